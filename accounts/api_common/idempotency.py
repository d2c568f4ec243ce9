"""`Idempotency-Key` for POSTs that create things, as Stripe does it: a retry with the same key
and body gets the stored response (same status) without acting again; the same key with another
body is refused (422); a retry while the first request still runs gets 409; keys live 24 hours.

The claim is a row insert under a unique (owner, key) constraint, committed before the work
starts, so of two concurrent requests exactly one proceeds, on SQLite and PostgreSQL alike."""

import hashlib
import json
from datetime import timedelta
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from accounts.api_common.errors import api_error_response
from accounts.models import IdempotencyRecord

HEADER = "Idempotency-Key"
TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255
HANDLED = (exceptions.APIException, Http404, PermissionDenied, DjangoValidationError)


def request_fingerprint(request):
    body = json.dumps(request.data, sort_keys=True, cls=JSONEncoder, separators=(",", ":"))
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _replay(record):
    response = Response(record.response_body, status=record.response_status)
    response["Idempotent-Replayed"] = "true"
    return response


def _insert_claim(*, owner, key, fingerprint, now):
    """The claim as one statement (no transaction to open and commit around it): the new record,
    or None when this owner already holds this key."""
    table, quote = IdempotencyRecord._meta.db_table, connection.ops.quote_name
    columns = ", ".join(quote(c) for c in ("owner_id", "key", "fingerprint", "state", "created_at"))
    state = IdempotencyRecord.State.IN_FLIGHT
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(table)} ({columns}) VALUES (%s, %s, %s, %s, %s) "  # noqa: S608 - names from our model, values as parameters
            f"ON CONFLICT ({quote('owner_id')}, {quote('key')}) DO NOTHING RETURNING {quote('id')}",
            [owner.pk, key, fingerprint, state, connection.ops.adapt_datetimefield_value(now)],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return IdempotencyRecord(
        id=row[0], owner=owner, key=key, fingerprint=fingerprint, state=state, created_at=now
    )


def _claim(*, owner, key, fingerprint):
    """Returns (record, None) when this request may proceed, else (None, response to send)."""
    now = timezone.now()
    for _attempt in range(3):
        record = _insert_claim(owner=owner, key=key, fingerprint=fingerprint, now=now)
        if record is not None:
            return record, None
        existing = IdempotencyRecord.objects.filter(owner=owner, key=key).first()
        if existing is None:
            continue  # released or expired meanwhile: claim again
        if existing.created_at <= now - TTL:
            IdempotencyRecord.objects.filter(pk=existing.pk, created_at=existing.created_at).delete()
            continue
        if existing.fingerprint != fingerprint:
            return None, api_error_response(
                "idempotency_key_reused",
                _("This Idempotency-Key was already used with a different request body."),
                status.HTTP_422_UNPROCESSABLE_ENTITY,
            )
        if existing.state == IdempotencyRecord.State.IN_FLIGHT:
            break
        return None, _replay(existing)
    return None, api_error_response(
        "idempotency_key_in_flight",
        _("A request with this Idempotency-Key is still being processed; retry in a moment."),
        status.HTTP_409_CONFLICT,
    )


def complete_within_transaction(request, response):
    """Record the response for this request's Idempotency-Key now, from inside the database
    transaction that did the work, so both commit together (one commit fewer per request). If that
    transaction rolls back, the decorator records whatever response the request ends with."""
    record = getattr(request, "_idempotency_record", None)
    if record is None:
        return
    _complete(record, response)
    transaction.on_commit(lambda: setattr(record, "state", IdempotencyRecord.State.DONE))


def _complete(record, response):
    """Record the response as JSON, so a replay is byte-for-byte the same data (one plain UPDATE:
    the ORM's save cost more than the statement)."""
    status_code = response.status_code
    table, quote = IdempotencyRecord._meta.db_table, connection.ops.quote_name
    body_field = IdempotencyRecord._meta.get_field("response_body")
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(table)} SET {quote('response_body')} = %s, {quote('response_status')} = %s, "  # noqa: S608 - names from our model, values as parameters
            f"{quote('state')} = %s WHERE {quote('id')} = %s",
            [
                body_field.get_db_prep_save(response.data, connection),
                status_code,
                IdempotencyRecord.State.DONE,
                record.pk,
            ],
        )


def idempotent(method):
    """Decorate an APIView handler (`def post(self, request, ...)`)."""

    @wraps(method)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return method(view, request, *args, **kwargs)
        key = key.strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            return api_error_response(
                "validation_error",
                _("Idempotency-Key must be 1 to %(max)d characters.") % {"max": MAX_KEY_LENGTH},
                status.HTTP_400_BAD_REQUEST,
                {HEADER: [_("Invalid length.")]},
            )
        # Reading the body first: a request that does not parse is refused without a claim.
        record, response = _claim(owner=request.user, key=key, fingerprint=request_fingerprint(request))
        if response is not None:
            return response
        request._idempotency_record = record
        try:
            response = method(view, request, *args, **kwargs)
        except HANDLED as exc:
            response = view.handle_exception(exc)
        except BaseException:
            record.delete()  # nothing was decided: the client may retry with the same key
            raise
        if response.status_code >= 500:
            record.delete()
            return response
        if record.state != IdempotencyRecord.State.DONE:  # not recorded with the work itself
            _complete(record, response)
        return response

    return wrapper


def idempotency_records_purge(*, now=None):
    """Delete expired records (a periodic chore; expired ones are also replaced on reuse)."""
    cutoff = (now or timezone.now()) - TTL
    return IdempotencyRecord.objects.filter(created_at__lte=cutoff).delete()[0]
