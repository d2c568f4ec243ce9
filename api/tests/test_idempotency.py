"""The `idempotent` decorator on its own (api/idempotency.py), for a handler that
lets the decorator open the transaction (the transactions API records inside its own)."""

import pytest
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from accounts.models import AuditEntry
from api.idempotency import idempotent
from api.models import IdempotencyRecord

pytestmark = pytest.mark.django_db


class NoteView(APIView):
    @idempotent
    def post(self, request):
        entry = AuditEntry.objects.create(
            action="note", target_type="t", target_id="1", note=request.data["note"]
        )
        if request.data.get("fail_after_writing"):
            raise serializers.ValidationError({"note": ["refused after the write"]})
        return Response({"id": entry.pk, "note": entry.note, "z": 1, "a": 2}, status=201)


def _post(user, key, body):
    request = APIRequestFactory().post("/notes/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    force_authenticate(request, user=user)
    response = NoteView.as_view()(request)
    if hasattr(response, "render"):
        response.render()
    return response


def test_the_work_and_its_record_commit_together_and_a_retry_replays(integrator):
    first = _post(integrator, "n1", {"note": "hello"})
    again = _post(integrator, "n1", {"note": "hello"})
    assert first.status_code == again.status_code == 201
    assert (
        again.content
        == first.content
        == b'{"id":%d,"note":"hello","z":1,"a":2}' % AuditEntry.objects.get().pk
    )
    assert again["Idempotent-Replayed"] == "true"
    assert AuditEntry.objects.count() == IdempotencyRecord.objects.count() == 1


def test_a_refusal_rolls_the_work_back_and_records_nothing(integrator):
    response = _post(integrator, "n2", {"note": "x", "fail_after_writing": True})
    assert response.status_code == 400
    assert not AuditEntry.objects.exists() and not IdempotencyRecord.objects.exists()
    assert _post(integrator, "n2", {"note": "x"}).status_code == 201
