"""The API's JSON parser: DRF's, refusing (400, in the error shape) bodies nested deeper than
API_JSON_MAX_DEPTH and strings that hold NUL, another control character or a lone surrogate,
which would otherwise reach the database (PostgreSQL refuses NUL in text) or fail to encode as
UTF-8 in a response (a 500)."""

import json

from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.settings import api_settings
from rest_framework.utils.json import strict_constant

from core.conf import setting
from core.jsonbody import json_problem
from core.text import describe_character


@setting("API_JSON_MAX_DEPTH", default=32, minimum=1)
def max_depth(value) -> int:
    """JSON bodies nested deeper than this are refused (400)."""
    return int(value)


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = get_encoding(parser_context or {})
        try:
            text = stream.read().decode(encoding)
        except UnicodeDecodeError:
            raise ParseError(_("The body is not valid %(encoding)s.") % {"encoding": encoding}) from None
        too_deep = ParseError(_("The JSON body nests deeper than %(max)d levels.") % {"max": max_depth()})
        try:
            data = json.loads(text, parse_constant=strict_constant if self.strict else None)
        except RecursionError:  # deeper than the interpreter's own limit
            raise too_deep from None
        except ValueError as exc:
            raise ParseError(_("JSON parse error - %(error)s") % {"error": exc}) from None
        problem = json_problem(text, data, max_depth=max_depth())
        if problem is None:
            return data
        kind, path, char = problem
        if kind == "depth":
            raise too_deep
        message = _("This value holds a character that is not allowed (%(char)s).") % {
            "char": describe_character(char)
        }
        raise ValidationError({path or api_settings.NON_FIELD_ERRORS_KEY: [message]})
