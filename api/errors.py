"""One error shape for every API error: `{"error": {"code", "message", "fields"}}`."""

import sys

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.encoding import force_str
from django.utils.translation import gettext as _
from django.views.defaults import bad_request, page_not_found, server_error
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from api.throttling import AuthFailureThrottle
from api.unavailable import database_unavailable_response
from core.http import error_body, is_api_path
from core.outage import database_unavailable

# DRF's own codes, renamed where a client reads them better.
CODES = {"invalid": "validation_error", "error": "error"}


def _messages(detail):
    """A field's errors as a list of strings; nested serializers keep their structure."""
    if isinstance(detail, dict):
        return {key: _messages(value) for key, value in detail.items()}
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return [force_str(item) for item in detail]
        return [_messages(item) for item in detail]
    return [force_str(detail)]


def _validation_body(detail):
    non_field_key = api_settings.NON_FIELD_ERRORS_KEY
    if isinstance(detail, dict):
        fields = {key: _messages(value) for key, value in detail.items() if key != non_field_key}
        general = [force_str(item) for item in detail.get(non_field_key, [])]
    else:
        fields = {}
        general = [force_str(item) for item in (detail if isinstance(detail, list) else [detail])]
    message = " ".join(general) or _("The request has invalid fields; see `fields`.")
    return error_body("validation_error", message, fields)


def django_validation_error_to_drf(error):
    """Services raise Django's ValidationError; the API answers it like a serializer error."""
    if hasattr(error, "error_dict"):
        detail = {
            (api_settings.NON_FIELD_ERRORS_KEY if key == "__all__" else key): [force_str(m) for m in messages]
            for key, messages in error.message_dict.items()
        }
    else:
        detail = [force_str(message) for message in error.messages]
    return exceptions.ValidationError(detail)


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"
    default_detail = "The request body is larger than the server accepts."


def exception_handler(exc, context):
    response = _handle(exc, context)
    request = context.get("request")
    if response is not None and response.status_code == 401 and request is not None:
        # Failed authentication counts per address; over the limit it is refused as throttled.
        wait = AuthFailureThrottle().record(request)
        if wait is not None:
            return _handle(exceptions.Throttled(wait=wait), context)
    return response


def _handle(exc, context):
    if isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge(_("The request body is larger than the server accepts."))
    elif isinstance(exc, DjangoValidationError):
        exc = django_validation_error_to_drf(exc)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: Django's 500 handler answers, in the same shape under /api/
    if isinstance(exc, exceptions.ValidationError):
        response.data = _validation_body(exc.detail)
        return response
    detail = exc.detail if isinstance(exc, exceptions.APIException) else response.data
    code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    if not isinstance(code, str):
        code = "error"
    response.data = error_body(CODES.get(code, code), detail if isinstance(detail, str) else str(detail))
    return response


def api_error_response(code, message, status_code, fields=None):
    return Response(error_body(code, message, fields), status=status_code)


def _is_api(request):
    return is_api_path(request.path)


def json_or_html_404(request, exception=None):
    """Django-level 404 (no URL matched): JSON under /api/, the normal page elsewhere."""
    if _is_api(request):
        return JsonResponse(
            error_body("not_found", _("No API resource at this address.")), status=status.HTTP_404_NOT_FOUND
        )
    return page_not_found(request, exception)


def json_or_html_400(request, exception=None):
    """Django-level 400 (a suspicious request refused before any view): JSON under /api/."""
    if _is_api(request):
        return JsonResponse(
            error_body("bad_request", _("The request could not be understood.")),
            status=status.HTTP_400_BAD_REQUEST,
        )
    return bad_request(request, exception)


def json_or_html_500(request):
    exc = sys.exc_info()[1]
    if database_unavailable(exc):  # raised outside a view (in a middleware): still a 503
        return database_unavailable_response(request, exc)
    if _is_api(request):
        return JsonResponse(
            error_body("server_error", _("Something went wrong on our side; it has been logged.")),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    return server_error(request)


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, machine-readable error code, e.g. `validation_error`.")
    message = serializers.CharField(help_text="A sentence for people, in the request's language.")
    fields = serializers.DictField(
        child=serializers.JSONField(),
        help_text="Field name → list of messages, for validation errors; empty otherwise.",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()
