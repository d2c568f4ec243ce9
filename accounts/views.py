from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from accounts.forms import ApiKeyForm, LoginForm, ProfileForm, RegistrationForm
from accounts.models import IntegratorKey
from accounts.roles import Role, landing_page, role_required, user_roles
from accounts.services import api_key_create, api_key_revoke, user_register, user_update_profile


@sensitive_post_parameters("password1", "password2")
def register(request):
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    form = RegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = user_register(
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
            display_name=form.cleaned_data["display_name"],
        )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, _("Welcome! Your account is ready."))
        return redirect(settings.LOGIN_REDIRECT_URL)
    return render(request, "accounts/register.html", {"form": form})


@method_decorator(sensitive_post_parameters("password"), name="dispatch")
class LoginView(auth_views.LoginView):
    form_class = LoginForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self):
        """Without a `next` page: where this user's role starts (`roles.landing_page`)."""
        return resolve_url(landing_page(self.request.user))


@login_required
def profile(request):
    return render(request, "accounts/profile.html", {"roles": user_roles(request.user)})


@login_required
def profile_edit(request):
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        user_update_profile(
            user=request.user,
            display_name=form.cleaned_data["display_name"],
            phone=form.cleaned_data["phone"],
        )
        messages.success(request, _("Your profile was saved."))
        return redirect("profile")
    return render(request, "accounts/profile_edit.html", {"form": form})


@login_required
@role_required(Role.INTEGRATOR)
def api_keys(request):
    """An integrator's keys, by prefix; a new key is shown once, on the page that created it."""
    form = ApiKeyForm(request.POST or None)
    new_secret = None
    if request.method == "POST" and form.is_valid():
        _key, new_secret = api_key_create(owner=request.user, name=form.cleaned_data["name"])
        form = ApiKeyForm()
    keys = IntegratorKey.objects.filter(owner=request.user)
    response = render(
        request, "accounts/api_keys.html", {"form": form, "keys": keys, "new_secret": new_secret}
    )
    # The page holding a new key must not be kept by the browser or a proxy.
    response["Cache-Control"] = "no-store"
    return response


@login_required
@role_required(Role.INTEGRATOR)
@require_POST
def api_key_revoke_view(request, prefix):
    key = get_object_or_404(IntegratorKey, owner=request.user, prefix=prefix)
    api_key_revoke(key=key, actor=request.user)
    messages.success(
        request, _("Key %(prefix)s was revoked; requests using it are refused.") % {"prefix": prefix}
    )
    return redirect("api_keys")
