"""The login lockout (django-axes), wired to count failures against the account, not against
the string someone typed.

Sign-in looks the user up by `canonical_email` (exactly), and `lockout_username` gives axes the
same canonical form, so "U@EXAMPLE.COM", " u@example.com" and "ｕ@example.com" are one account
to both. What axes stores of a request (username, user agent, path, query and form data) is
masked of card numbers and kept within its columns, whatever the client sent."""

from axes.handlers.database import AxesDatabaseHandler
from django.conf import settings
from django.http import QueryDict

from accounts.models import EMAIL_MAX_LENGTH, canonical_email
from core.cardnumbers import mask_card_numbers


def lockout_username(request, credentials):
    """AXES_USERNAME_CALLABLE: the canonical email, masked and cut to a length axes can store
    (its column holds 255; a longer value is a database error on PostgreSQL)."""
    field = settings.AXES_USERNAME_FORM_FIELD
    if credentials:
        value = credentials.get(field)
    else:
        value = getattr(request, "data", request.POST).get(field) if request is not None else None
    if value is None:
        return None
    return mask_card_numbers(canonical_email(value))[:EMAIL_MAX_LENGTH]


def _masked_query(query):
    masked = QueryDict(mutable=True)
    for key, values in query.lists():
        masked.setlist(mask_card_numbers(key), [mask_card_numbers(value) for value in values])
    return masked


def _mask_client(request):
    for name in ("axes_user_agent", "axes_path_info", "axes_http_accept"):
        value = getattr(request, name, None)
        if isinstance(value, str):
            setattr(request, name, mask_card_numbers(value))


class LockoutHandler(AxesDatabaseHandler):
    """Axes' database handler, storing masked copies of what the client sent."""

    def user_login_failed(self, sender, credentials, request=None, **kwargs):
        if request is None:
            return super().user_login_failed(sender, credentials, request, **kwargs)
        _mask_client(request)
        # Axes copies request.GET and request.POST into its records: let it copy masked ones.
        original_get, original_post = request.GET, request.POST
        request.GET, request.POST = _masked_query(original_get), _masked_query(original_post)
        try:
            return super().user_login_failed(sender, credentials, request, **kwargs)
        finally:
            request.GET, request.POST = original_get, original_post

    def user_logged_in(self, sender, request, user, **kwargs):
        _mask_client(request)
        return super().user_logged_in(sender, request, user, **kwargs)

    def user_logged_out(self, sender, request, user, **kwargs):
        _mask_client(request)
        return super().user_logged_out(sender, request, user, **kwargs)
