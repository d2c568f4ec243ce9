"""OpenAPI helpers: the documented error responses, each with an example of the one shape."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse

from api.errors import ErrorSerializer, error_body

_ERRORS = {
    400: ("Invalid request: a field is missing or wrong, the body is not valid JSON, or the address holds a "
          "forbidden character (NUL, a control character).",
          "validation_error", "The request has invalid fields; see `fields`.",
          {"amount": ["The amount must be more than 0."]}),
    401: ("No credentials, or an API key that is not valid, revoked or expired.",
          "not_authenticated", "Authentication credentials were not provided.", None),
    403: ("Authenticated, but your role does not allow this.",
          "permission_denied", "You do not have permission to perform this action.", None),
    404: ("No such resource, or it is not yours (the API never says which).",
          "not_found", "Not found.", None),
    409: ("A request with the same Idempotency-Key is still being processed, or the state does not allow it.",
          "idempotency_key_in_flight", "A request with this Idempotency-Key is still being processed; retry in a moment.", None),
    413: ("The upload or body is larger than the limit.",
          "file_too_large", "The file is larger than the 10 MB limit.", None),
    414: ("The address (path and query) is longer than the server accepts.",
          "uri_too_long", "The address is longer than 4096 characters.", None),
    415: ("The body's content type is not accepted here.",
          "unsupported_media_type", 'Unsupported media type "text/plain" in request.', None),
    422: ("The Idempotency-Key was already used with a different body.",
          "idempotency_key_reused", "This Idempotency-Key was already used with a different request body.", None),
    429: ("Too many requests for this key; see the Retry-After header.",
          "throttled", "Request was throttled. Expected available in 2 seconds.", None),
}  # fmt: skip


def errors(*codes):
    """`responses=` entries for extend_schema."""
    responses = {}
    for code in codes:
        description, error_code, message, fields = _ERRORS[code]
        responses[code] = OpenApiResponse(
            ErrorSerializer,
            description=description,
            examples=[OpenApiExample(error_code, value=error_body(error_code, message, fields))],
        )
    return responses


# Every endpoint can answer these: a malformed address (NUL, control characters: 400; too long:
# 414) is refused before any view, and every one needs credentials, a role, and stays in its rate.
AUTH_ERRORS = (400, 401, 403, 414, 429)

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": 255},
    OpenApiParameter.HEADER,
    required=False,
    description="Any unique string (a UUID) per logical operation. Retrying with the same key and "
    "body returns the stored response with the same status and the header `Idempotent-Replayed: true`; "
    "the same key with a different body gets 422; while the first request runs, 409. Keys expire after 24 h.",
)
