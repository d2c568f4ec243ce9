from django.utils.translation import gettext as _
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination


class NewestFirstPagination(CursorPagination):
    """Opaque cursors: stable under inserts, and the cost of a page does not grow with depth."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def decode_cursor(self, request):
        # A cursor the client mangled is a bad request (400), not a missing page (DRF says 404).
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError({self.cursor_query_param: [_("This cursor is not valid.")]}) from None
