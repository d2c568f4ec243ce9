"""Middleware that does not depend on any app: refuse requests no view can use, and keep
signed-in pages out of caches."""

import unicodedata

from django.conf import settings
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _

from core import conf
from core.http import error_response, is_api_path
from core.text import describe_character, forbidden_character


def forbidden_in_address(text: str) -> str | None:
    """Like `forbidden_character`, but no control character at all (tab and line breaks
    included): no path segment or query value of ours may hold one."""
    if text.isascii() and text.isprintable():
        return None
    found = forbidden_character(text)
    if found is not None:
        return found
    for char in text:
        if unicodedata.category(char) == "Cc":
            return char
    return None


class RefuseMalformedRequestMiddleware:
    """414 for an over-long address; 400 for a decoded path or query string holding NUL, another
    control character or a lone surrogate. Views, filters and the database never see them (on
    PostgreSQL a NUL in a query parameter was a 500), and every answer is in the API's error
    shape under /api/, a plain page elsewhere."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.refusal(request) or self.get_response(request)

    def refusal(self, request):
        target = request.META.get("RAW_URI") or request.get_full_path()
        if len(target) > conf.max_uri_length():
            return error_response(
                request,
                status=414,
                code="uri_too_long",
                message=_("The address is longer than %(max)d characters.") % {"max": conf.max_uri_length()},
            )
        found = forbidden_in_address(request.path_info)
        if found is None and request.META.get("QUERY_STRING"):
            for key, values in request.GET.lists():
                found = forbidden_in_address(key) or next(
                    (char for char in map(forbidden_in_address, values) if char), None
                )
                if found is not None:
                    break
        if found is None:
            return None
        return error_response(
            request,
            status=400,
            code="bad_request",
            message=_("The address holds a character that is not allowed (%(char)s).")
            % {"char": describe_character(found)},
        )


class NoStoreWhenSignedInMiddleware:
    """Pages and API answers for a signed-in user (a session or an API key) must not be kept by
    the browser or a proxy: `Cache-Control: no-store` (with Django's other never-cache headers).

    Judged from the credentials the request carries (a session cookie, an Authorization header),
    not from `request.user`: loading the user here would query the database for responses that
    never needed it, and while the database is down it would turn the 503 into a second error."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        signed_in = settings.SESSION_COOKIE_NAME in request.COOKIES or "HTTP_AUTHORIZATION" in request.META
        if signed_in and "no-store" not in response.get("Cache-Control", ""):
            add_never_cache_headers(response)
        return response


class MethodNotAllowedPageMiddleware:
    """A 405 from a view that takes only some methods (`require_POST`, ...) has an empty body;
    outside the API a person gets the site's page in their language, with the same `Allow`."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code != 405 or response.content or is_api_path(request.path):
            return response
        page = render(request, "405.html", status=405)
        if response.has_header("Allow"):
            page["Allow"] = response["Allow"]
        return page
