"""`Idempotency-Key` for POSTs that create things, as Stripe does it: a retry with the same key
and body gets the first response again, byte for byte (same status, `Idempotent-Replayed: true`),
without acting again; the same key with another body is refused (422); keys live 24 hours.

The key is claimed inside the database transaction that does the work, by inserting its record
(with the encoded response) as the transaction's last statement. So the record commits exactly
when the work does, and nothing can leave a key taken by work that never happened: a worker killed
mid-request, a database that drops, a rollback all free it with the transaction. Exactly once
under concurrency comes from the unique (owner, key) constraint: of two requests with one key,
the second one's insert waits for the first transaction (PostgreSQL) or for the database's write
lock (SQLite); once the first has committed, the insert finds the key taken, the second request's
work is rolled back and it answers with the first one's response.

Only a request that acted (2xx) is recorded. A refusal (4xx) or a server error records nothing:
the same key may be sent again, with the body corrected.

Cost on the decision path: one indexed SELECT before the work (is this a retry?) and one INSERT
inside the work's transaction, with no commit of its own."""

import hashlib
import json
import logging
from datetime import timedelta
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection, transaction
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from api.errors import api_error_response
from api.models import IdempotencyRecord
from core.cardnumbers import contains_card_number
from core.text import describe_character, forbidden_character

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255
HANDLED = (exceptions.APIException, Http404, PermissionDenied, DjangoValidationError)
PURGE_BATCH = 1000

_SQL = {}  # (database vendor, statement name) -> SQL, built once per process


class KeyTaken(Exception):
    """Raised from inside the work's transaction when another request with the same key has
    committed first: the transaction rolls back and the decorator answers with that response."""


class _Claim:
    __slots__ = ("fingerprint", "key", "owner_id", "recorded")

    def __init__(self, *, owner_id, key, fingerprint):
        self.owner_id, self.key, self.fingerprint = owner_id, key, fingerprint
        self.recorded = False


def key_problem(key):
    """Why an Idempotency-Key header is refused, or None. Checked before anything is stored: the
    key is kept for a day, so it must not hold a card number or anything a database or log
    cannot take."""
    if not key or len(key) > MAX_KEY_LENGTH:
        return _("Idempotency-Key must be 1 to %(max)d characters.") % {"max": MAX_KEY_LENGTH}
    char = forbidden_character(key) or next((c for c in key if not c.isprintable()), None)
    if char is not None:
        return _("Idempotency-Key must not contain the character %(char)s.") % {
            "char": describe_character(char)
        }
    if contains_card_number(key):  # a UUID never is (core.cardnumbers)
        return _("Idempotency-Key must not contain a card number; use a random value such as a UUID.")
    return None


def request_fingerprint(request):
    body = json.dumps(
        request.data, sort_keys=True, cls=JSONEncoder, separators=(",", ":"), ensure_ascii=False
    )
    # surrogatepass: a lone surrogate in the body is the validator's business, not a crash here.
    return hashlib.sha256(
        f"{request.method} {request.path}\n{body}".encode("utf-8", "surrogatepass")
    ).hexdigest()


def _sql(name):
    statement = _SQL.get((connection.vendor, name))
    if statement is not None:
        return statement
    quote = connection.ops.quote_name
    t = quote(IdempotencyRecord._meta.db_table)
    columns = ("owner_id", "key", "fingerprint", "response_status", "response_content_type", "response_body")
    if name == "select":
        statement = (
            f"SELECT {quote('fingerprint')}, {quote('response_status')}, {quote('response_content_type')}, "  # noqa: S608 - names from our model, values as parameters
            f"{quote('response_body')} FROM {t} "
            f"WHERE {quote('owner_id')} = %s AND {quote('key')} = %s AND {quote('created_at')} > %s"
        )
    else:  # insert: takes the key, or an expired record of it; returns nothing when it is taken
        names = ", ".join(quote(c) for c in (*columns, "created_at"))
        updates = ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in (*columns[2:], "created_at"))
        statement = (
            f"INSERT INTO {t} ({names}) VALUES (%s, %s, %s, %s, %s, %s, %s) "  # noqa: S608 - names from our model, values as parameters
            f"ON CONFLICT ({quote('owner_id')}, {quote('key')}) DO UPDATE SET {updates} "
            f"WHERE {t}.{quote('created_at')} <= %s RETURNING {quote('id')}"
        )
    _SQL[(connection.vendor, name)] = statement
    return statement


def _stored(claim, *, now):
    """(fingerprint, status, content type, body) of the key's live record, or None."""
    cutoff = connection.ops.adapt_datetimefield_value(now - TTL)
    with connection.cursor() as cursor:
        cursor.execute(_sql("select"), [claim.owner_id, claim.key, cutoff])
        return cursor.fetchone()


def _answer_from(stored, claim):
    """The response to a request whose key already has a record."""
    fingerprint, status_code, content_type, body = stored
    if fingerprint != claim.fingerprint:
        return api_error_response(
            "idempotency_key_reused",
            _("This Idempotency-Key was already used with a different request body."),
            status.HTTP_422_UNPROCESSABLE_ENTITY,
        )
    response = HttpResponse(bytes(body), status=status_code, content_type=content_type)
    response["Idempotent-Replayed"] = "true"
    return response


def _rendered(request, response):
    """The response's bytes and content type, rendering it now as DRF would after the view (the
    same renderer and context), so what is stored is exactly what the client receives: Django
    does not render a response twice."""
    if isinstance(response, Response) and not response.is_rendered:
        response.accepted_renderer = request.accepted_renderer
        response.accepted_media_type = request.accepted_media_type
        response.renderer_context = request.parser_context["view"].get_renderer_context()
        response.render()
    return response.content, response["Content-Type"]


def record_response(request, response):
    """Record the response for this request's Idempotency-Key. Call it from inside the database
    transaction that did the work, as its last statement: the record commits or rolls back with
    the work. Raises KeyTaken (so the transaction rolls back) when another request with this key
    committed first. Does nothing for a request without a key."""
    claim = getattr(request, "_idempotency_claim", None)
    if claim is None or claim.recorded:
        return
    content, content_type = _rendered(request, response)
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            _sql("insert"),
            [
                claim.owner_id,
                claim.key,
                claim.fingerprint,
                response.status_code,
                content_type,
                content,
                adapt(now),
                adapt(now - TTL),
            ],
        )
        taken = cursor.fetchone() is None
    if taken:
        raise KeyTaken(claim.key)
    claim.recorded = True


def _refused(message):
    return api_error_response("validation_error", message, status.HTTP_400_BAD_REQUEST, {HEADER: [message]})


def idempotent(method=None, *, records_within_work=False):
    """Decorate an APIView handler (`def post(self, request, ...)`).

    By default the handler runs inside one database transaction, whose last statement records its
    response. With `records_within_work=True` the handler opens its own transaction and calls
    `record_response(request, response)` last inside it, which lets it do slow reads (deciding)
    before taking any lock."""
    if method is None:
        return lambda method: idempotent(method, records_within_work=records_within_work)

    @wraps(method)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return method(view, request, *args, **kwargs)
        key = key.strip()
        problem = key_problem(key)
        if problem is not None:
            return _refused(problem)
        # Reading the body first: a request that does not parse is refused before any lookup.
        claim = _Claim(owner_id=request.user.pk, key=key, fingerprint=request_fingerprint(request))
        stored = _stored(claim, now=timezone.now())
        if stored is not None:  # a retry of a request that acted: its response, not a second act
            return _answer_from(stored, claim)
        request._idempotency_claim = claim
        try:
            if records_within_work:
                response = method(view, request, *args, **kwargs)
            else:
                with transaction.atomic():
                    response = method(view, request, *args, **kwargs)
                    if 200 <= response.status_code < 300:
                        record_response(request, response)
        except KeyTaken:
            response = None
        except HANDLED as exc:
            response = view.handle_exception(exc)
        if response is not None and 200 <= response.status_code < 300 and not claim.recorded:
            # A handler that forgot to record inside its transaction: record now, so retries
            # still replay (the work was done once already; only a crash in between repeats it).
            logger.error("%s did not record its Idempotency-Key response in its transaction", method)
            try:
                record_response(request, response)
            except KeyTaken:
                response = None
        if response is not None and (claim.recorded or response.status_code >= 500):
            return response
        # Refused, or beaten by a concurrent request with the same key: if that one acted, its
        # response is the answer (the same key and body must not get two different outcomes).
        stored = _stored(claim, now=timezone.now())
        if stored is not None:
            return _answer_from(stored, claim)
        if response is not None:
            return response
        return api_error_response(  # the other request's record vanished meanwhile (purged?)
            "idempotency_key_in_flight",
            _("Another request with this Idempotency-Key was being processed; retry in a moment."),
            status.HTTP_409_CONFLICT,
        )

    return wrapper


def idempotency_records_purge(*, now=None, batch_size=PURGE_BATCH):
    """Delete expired records, a batch at a time so no statement holds a lock for long (the task
    worker runs this every few minutes; an expired record is also overwritten when its key is
    used again). Returns how many were deleted."""
    cutoff = (now or timezone.now()) - TTL
    expired = IdempotencyRecord.objects.filter(created_at__lte=cutoff).order_by().values_list("pk", flat=True)
    deleted = 0
    while ids := list(expired[:batch_size]):
        deleted += IdempotencyRecord.objects.filter(pk__in=ids).delete()[0]
    return deleted
