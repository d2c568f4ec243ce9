"""The API's one error shape, `{"error": {"code", "message", "fields"}}`, for code below the API
layer (middleware) that must answer in it; `api.errors` builds on it."""

from django.http import HttpResponse, JsonResponse
from django.utils.encoding import force_str

from core import conf


def error_body(code, message, fields=None):
    return {"error": {"code": code, "message": force_str(message), "fields": fields or {}}}


def is_api_path(path: str) -> bool:
    return path.startswith(conf.api_path_prefix())


def error_response(request, *, status: int, code: str, message, fields=None, headers=None):
    """The error shape under the API's prefix; a plain text page elsewhere."""
    if is_api_path(request.path):
        return JsonResponse(error_body(code, message, fields), status=status, headers=headers)
    return HttpResponse(
        force_str(message), status=status, content_type="text/plain; charset=utf-8", headers=headers
    )
