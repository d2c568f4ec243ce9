"""503 Service Unavailable while the database cannot be reached, instead of a 500 per request.

Every request that meets an unreachable database answers 503 with `Retry-After`: under /api/ in
the API's error shape (`service_unavailable`), elsewhere as a plain page that needs neither the
database nor the site's layout. The log gets one warning line per request, no traceback: an outage
is not a bug, and a traceback per request would bury everything else. Nothing needs restarting
when the database is back: Django drops a connection that failed at the end of the request (and
our PostgreSQL backend notices a connection the server ended before reusing it), so the next
request connects afresh.

`DatabaseUnavailableMiddleware` answers for views (where nearly every query runs);
`database_unavailable_response` is also called by the 500 handler for the rest (a middleware's
query)."""

import logging

from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from core.cardnumbers import mask_card_numbers
from core.conf import setting
from core.http import error_body
from core.outage import database_unavailable, one_line

logger = logging.getLogger(__name__)


@setting("DATABASE_UNAVAILABLE_RETRY_AFTER", default=5, minimum=1)
def retry_after_seconds(value) -> int:
    """The Retry-After of a 503 while the database is unreachable."""
    return int(value)


def database_unavailable_response(request, exc):
    # The path only (a query string may carry anything), with card numbers masked.
    logger.warning(
        "Database unavailable, answered 503: %s %s (%s)",
        request.method,
        mask_card_numbers(request.path),
        one_line(exc),
    )
    if request.path.startswith("/api/"):
        response = JsonResponse(
            error_body(
                "service_unavailable",
                _("The service is temporarily unavailable; retry in a few seconds."),
            ),
            status=503,
        )
    else:
        response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = str(retry_after_seconds())
    response["Cache-Control"] = "no-store"
    response._has_been_logged = True  # the line above is the log; Django's would add a traceback
    return response


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if database_unavailable(exception):
            return database_unavailable_response(request, exception)
        return None
