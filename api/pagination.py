from django.utils.translation import gettext as _
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination

from core.text import is_ascii_digits


class NewestFirstPagination(CursorPagination):
    """Opaque cursors: stable under inserts, and the cost of a page does not grow with depth."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request):
        # What the schema says is what is enforced: a whole number from 1 to max_page_size, else
        # 400 (DRF would quietly fall back to the default size).
        value = request.query_params.get(self.page_size_query_param)
        if value is None:
            return self.page_size
        if not (is_ascii_digits(value) and len(value) <= 6 and 1 <= int(value) <= self.max_page_size):
            raise ValidationError(
                {
                    self.page_size_query_param: [
                        _("Ask for a whole number of results from 1 to %(max)d.")
                        % {"max": self.max_page_size}
                    ]
                }
            )
        return int(value)

    def decode_cursor(self, request):
        # A cursor the client mangled is a bad request (400), not a missing page (DRF says 404).
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError({self.cursor_query_param: [_("This cursor is not valid.")]}) from None

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["description"] = (
                    f"Results per page, 1 to {self.max_page_size} (default {self.page_size})."
                )
                parameter["schema"] = {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": self.max_page_size,
                    "default": self.page_size,
                }
        return parameters
