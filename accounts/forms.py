import logging

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.template import loader
from django.utils.translation import gettext_lazy as _

from accounts.mail import PlainLinesEmail
from accounts.models import EMAIL_MAX_LENGTH, User, canonical_email

logger = logging.getLogger(__name__)


class RegistrationForm(forms.Form):
    email = forms.EmailField(label=_("Email address"))
    display_name = forms.CharField(label=_("Display name"), max_length=150, required=False)
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label=_("Password confirmation"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_email(self):
        email = canonical_email(self.cleaned_data["email"])
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(_("An account with this email address already exists."))
        return email

    def clean(self):
        cleaned = super().clean()
        password1, password2 = cleaned.get("password1"), cleaned.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", _("The two passwords do not match."))
        if password1 and cleaned.get("email"):
            candidate = User(email=cleaned["email"], display_name=cleaned.get("display_name", ""))
            try:
                password_validation.validate_password(password1, candidate)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned


class CanonicalUsernameMixin:
    """Sign in with the canonical email (see `canonical_email`), the form the lockout counts;
    an overlong one is a form error before it reaches authentication or the lockout's tables."""

    def clean_username(self):
        username = canonical_email(self.cleaned_data.get("username"))
        if len(username) > EMAIL_MAX_LENGTH:
            raise forms.ValidationError(
                _("An email address has at most %(max)d characters.") % {"max": EMAIL_MAX_LENGTH},
                code="max_length",
            )
        return username


class LoginForm(CanonicalUsernameMixin, AuthenticationForm):
    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.fields["username"].label = _("Email address")
        self.fields["username"].widget = forms.EmailInput(
            attrs={"autofocus": True, "autocomplete": "email", "maxlength": EMAIL_MAX_LENGTH}
        )


class AdminLoginForm(CanonicalUsernameMixin, AdminAuthenticationForm):
    pass


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["display_name", "phone"]


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label=_("Key name"),
        max_length=50,
        help_text=_("What uses the key, for example “checkout-eu”. The key is shown once."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Rendered with {% crispy form %}, which takes its submit button from the helper.
        self.helper = FormHelper()
        self.helper.add_input(Submit("submit", _("Create key")))


class PasswordResetForm(auth_forms.PasswordResetForm):
    """Django's, sending its email with the link on one line (accounts.mail)."""

    def send_mail(
        self,
        subject_template_name,
        email_template_name,
        context,
        from_email,
        to_email,
        html_email_template_name=None,
    ):
        subject = "".join(loader.render_to_string(subject_template_name, context).splitlines())
        body = loader.render_to_string(email_template_name, context)
        message = PlainLinesEmail(subject, body, from_email, [to_email])
        if html_email_template_name is not None:
            message.attach_alternative(
                loader.render_to_string(html_email_template_name, context), "text/html"
            )
        try:
            message.send()
        except Exception:  # as Django's: the page says "sent" whoever asked, so nothing leaks
            logger.exception("Failed to send password reset email to %s", context["user"].pk)
