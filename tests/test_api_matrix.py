"""Every API endpoint × every kind of caller: exactly the expected status, no response ever
carries data of a party the caller may not see, and no request moves money on a card outside the
caller's own namespace. Integrators X and Y both call their card "shared_card": two cards."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.tests import factories as users
from accounts.tests.api_clients import anonymous_client, key_client, session_client
from api.models import ApiJob, WebhookSubscription
from detection.models import BacktestRun, ModelVersion, RetrainingRun
from transactions.models import Card, FraudReport
from transactions.tests.factories import CardFactory, MerchantFactory, TransactionFactory, integrator_card

pytestmark = pytest.mark.slow  # 288 cases, ~35 s

PARTIES = [
    "anonymous",
    "customer_a",
    "customer_b",
    "integrator_x",
    "integrator_y",
    "analyst",
    "model_manager",
    "admin",
]

# What each party may see, by marker; every other marker must never appear in its responses.
# (Markers are not "tx_" + hex: generated transaction ids are, and must not look like them.)
# "card_x"/"card_y" are the keys of X's and Y's "shared_card" ("<their id>~shared_card"): our
# internal name, which no integrator or customer is ever shown.
STAFF_SEES = {
    "tx_cust_a", "tx_cust_b", "tx_x1", "tx_x2", "tx_y1", "card_a", "card_b", "shared_card", "card_x", "card_y",
    "note-a", "note-b", "note-x",
}  # fmt: skip
VISIBLE = {
    "anonymous": set(),
    "customer_a": {"tx_cust_a", "card_a", "note-a"},
    "customer_b": {"tx_cust_b", "card_b", "note-b"},
    "integrator_x": {"tx_x1", "tx_x2", "shared_card", "note-x", "job_x", "key_x", "hook_x"},
    "integrator_y": {"tx_y1", "shared_card", "job_y", "key_y"},
    "analyst": STAFF_SEES,
    "model_manager": STAFF_SEES | {"job_train"},
    "admin": STAFF_SEES,
}
CSV = "transaction_id,occurred_at,card_id,merchant_id,amount\nb1,2026-11-01T10:00:00Z,c1,m1,5.00\n"

A, B, X, Y, AN, MM, AD = (
    "customer_a",
    "customer_b",
    "integrator_x",
    "integrator_y",
    "analyst",
    "model_manager",
    "admin",
)


def expect(default, **by_party):
    return {party: by_party.get(party, default) for party in PARTIES if party != "anonymous"} | {
        "anonymous": 401
    }


ONLY_ANALYSTS = expect(403, analyst=200, admin=200)
ONLY_MODEL_READERS = expect(403, analyst=200, model_manager=200, admin=200)
SUBMITTERS = expect(403, integrator_x=201, integrator_y=201, admin=201)
SCORERS = expect(403, integrator_x=200, integrator_y=200, analyst=200, admin=200)

# (name, method, path, body, expected status per party[, markers the request itself names, which
# its answer may echo]). Paths and bodies use {markers} filled per test.
ENDPOINTS = [
    ("me", "get", "/api/v1/me/", None, expect(200)),
    ("keys list", "get", "/api/v1/keys/", None, expect(403, integrator_x=200, integrator_y=200, admin=200)),
    ("keys create", "post", "/api/v1/keys/", {"name": "new"}, expect(403, integrator_x=201, integrator_y=201, admin=201)),
    ("keys revoke X's", "delete", "/api/v1/keys/{key_x}/", None,
     expect(403, integrator_x=204, integrator_y=404, admin=404)),
    ("transactions list", "get", "/api/v1/transactions/", None, expect(200)),
    ("transactions of the card called shared_card", "get", "/api/v1/transactions/?card=shared_card", None,
     expect(200)),
    ("transactions of X's card by its key", "get", "/api/v1/transactions/?card={card_x}", None, expect(200),
     {"card_x"}),
    ("transactions create", "post", "/api/v1/transactions/",
     {"card_id": "card_new", "merchant_id": "m_new", "amount": "5.00"}, SUBMITTERS),
    ("create on X's card id", "post", "/api/v1/transactions/",
     {"card_id": "shared_card", "merchant_id": "m_x", "amount": "7.00"}, SUBMITTERS, {"shared_card"}),
    ("create on a customer's card id", "post", "/api/v1/transactions/",
     {"card_id": "card_a", "merchant_id": "m_x", "amount": "7.00"}, SUBMITTERS, {"card_a"}),
    ("create on X's card key", "post", "/api/v1/transactions/",
     {"card_id": "{card_x}", "merchant_id": "m_x", "amount": "7.00"},
     expect(403, integrator_x=400, integrator_y=400, admin=400)),
    ("transaction of X", "get", "/api/v1/transactions/tx_x1/", None,
     expect(200, customer_a=404, customer_b=404, integrator_y=404)),
    ("transaction of X by pk", "get", "/api/v1/transactions/{tx_x1_pk}/", None,
     expect(200, customer_a=404, customer_b=404, integrator_y=404)),
    ("transaction of A", "get", "/api/v1/transactions/tx_cust_a/", None,
     expect(200, customer_b=404, integrator_x=404, integrator_y=404)),
    ("reports of X's transaction", "get", "/api/v1/transactions/tx_x1/reports/", None,
     expect(200, customer_a=404, customer_b=404, integrator_y=404, model_manager=403)),
    ("report X's transaction", "post", "/api/v1/transactions/tx_x2/reports/", {"note": "new"},
     expect(201, customer_a=404, customer_b=404, integrator_y=404, model_manager=403)),
    ("report A's transaction", "post", "/api/v1/transactions/tx_cust_a/reports/", {"note": "new"},
     expect(404, customer_a=400, analyst=400, admin=400, model_manager=403)),
    ("report queue", "get", "/api/v1/reports/", None, ONLY_ANALYSTS),
    ("report of A", "get", "/api/v1/reports/{report_a}/", None, ONLY_ANALYSTS),
    ("resolve report of A", "patch", "/api/v1/reports/{report_a}/", {"status": "rejected"}, ONLY_ANALYSTS),
    ("score", "post", "/api/v1/decisions/score", {"card_id": "card_a", "merchant_id": "m_x", "amount": "5.00"},
     SCORERS),
    ("score on X's card id", "post", "/api/v1/decisions/score",
     {"card_id": "shared_card", "merchant_id": "m_x", "amount": "5.00"}, SCORERS),
    ("models list", "get", "/api/v1/models/", None, ONLY_MODEL_READERS),
    ("model", "get", "/api/v1/models/v-matrix/", None, ONLY_MODEL_READERS),
    ("promote", "post", "/api/v1/models/v-matrix/promote", {}, expect(403, model_manager=200, admin=200)),
    ("train", "post", "/api/v1/models/train",
     {"train_start": "2026-01-01T00:00:00Z", "train_end": "2026-02-01T00:00:00Z"},
     expect(403, model_manager=202, admin=202)),
    ("training job", "get", "/api/v1/models/jobs/{job_train}/", None, expect(403, model_manager=200, admin=404)),
    ("retrain through the gate", "post", "/api/v1/models/retrain", None, expect(403, model_manager=202, admin=202)),
    ("retraining run", "get", "/api/v1/models/retrain/{run}/", None, expect(403, model_manager=200, admin=200)),
    ("retraining runs", "get", "/api/v1/models/retrain/", None, expect(403, model_manager=200, admin=200)),
    # No champion in this world: a reader's backtest is refused with the reason (400).
    ("backtest create", "post", "/api/v1/backtests/",
     {"start": "2026-01-01T00:00:00Z", "end": "2026-02-01T00:00:00Z", "change": "{{}}"},
     expect(403, analyst=400, model_manager=400, admin=400)),
    ("backtest", "get", "/api/v1/backtests/{backtest}/", None, ONLY_MODEL_READERS),
    ("batches create", "post", "/api/v1/batches/", "CSV",
     expect(403, integrator_x=202, integrator_y=202, analyst=202, model_manager=202, admin=202)),
    ("batch of X", "get", "/api/v1/batches/{job_x}/", None,
     expect(403, integrator_x=200, integrator_y=404, analyst=404, model_manager=404, admin=404)),
    ("batch result of X", "get", "/api/v1/batches/{job_x}/result/", None,
     expect(403, integrator_x=200, integrator_y=404, analyst=404, model_manager=404, admin=404)),
    ("webhooks list", "get", "/api/v1/webhooks/", None, expect(403, integrator_x=200, integrator_y=200, admin=200)),
    ("webhooks create", "post", "/api/v1/webhooks/",
     {"url": "https://93.184.215.14/hook", "event_types": ["transaction.decided"]},
     expect(403, integrator_x=201, integrator_y=201, admin=201)),
    ("webhook of X: test event", "post", "/api/v1/webhooks/{hook_x}/test/", None,
     expect(403, integrator_x=202, integrator_y=404, admin=404)),
    ("webhook of X: deliveries", "get", "/api/v1/webhooks/{hook_x}/deliveries/", None,
     expect(403, integrator_x=200, integrator_y=404, admin=404)),
    ("webhook of X: delete", "delete", "/api/v1/webhooks/{hook_x}/", None,
     expect(403, integrator_x=204, integrator_y=404, admin=404)),
]  # fmt: skip


@pytest.fixture
def world(db, settings):
    settings.WEBHOOKS_TIMEOUT_SECONDS = 0.2  # the test event goes nowhere: give up at once
    people = {
        A: users.customer(),
        B: users.customer(),
        X: users.integrator(),
        Y: users.integrator(),
        AN: users.analyst(),
        MM: users.model_manager(),
        AD: users.UserFactory(is_superuser=True, is_staff=True, roles=[]),
    }
    card_a = CardFactory(owner=people[A], external_id="card_a")
    card_b = CardFactory(owner=people[B], external_id="card_b")
    card_x = integrator_card(people[X], "shared_card")
    card_y = integrator_card(people[Y], "shared_card")
    merchant = MerchantFactory(external_id="m_x")
    tx_cust_a = TransactionFactory(
        external_id="tx_cust_a", card=card_a, merchant=merchant, submitted_by=people[A]
    )
    tx_cust_b = TransactionFactory(
        external_id="tx_cust_b", card=card_b, merchant=merchant, submitted_by=people[B]
    )
    tx_x1 = TransactionFactory(external_id="tx_x1", card=card_x, merchant=merchant, submitted_by=people[X])
    TransactionFactory(external_id="tx_x2", card=card_x, merchant=merchant, submitted_by=people[X])
    TransactionFactory(external_id="tx_y1", card=card_y, merchant=merchant, submitted_by=people[Y])
    report_a = FraudReport.objects.create(
        transaction=tx_cust_a, reported_by=people[A], source="customer", note="note-a"
    )
    FraudReport.objects.create(transaction=tx_cust_b, reported_by=people[B], source="customer", note="note-b")
    FraudReport.objects.create(transaction=tx_x1, reported_by=people[X], source="integrator", note="note-x")
    ModelVersion.objects.create(
        version="v-matrix", algorithm="logreg", artifact_path="x.joblib", sha256="0" * 64
    )
    # A finished run, so that each party's retraining request queues a new one.
    run = RetrainingRun.objects.create(
        trigger="manual", status="failed", active=None, labels_cutoff=timezone.now(), error="test"
    )
    backtest = BacktestRun.objects.create(
        period_start=timezone.now(), period_end=timezone.now(), change={"model": "v-matrix"}
    )
    clients = {"anonymous": anonymous_client()}
    for party, user in people.items():
        clients[party] = key_client(user) if party in (X, Y) else session_client(user)
    markers = {
        "card_x": card_x.external_id,
        "card_y": card_y.external_id,
        "tx_x1_pk": str(tx_x1.pk),
        "run": str(run.pk),
        "backtest": str(backtest.pk),
        "report_a": str(report_a.pk),
        "key_x": clients[X].secret.split(".")[0],
        "key_y": clients[Y].secret.split(".")[0],
    }
    for name, owner, kind in (("job_x", X, ApiJob.Kind.BATCH_SCORE), ("job_y", Y, ApiJob.Kind.BATCH_SCORE),
                              ("job_train", MM, ApiJob.Kind.TRAIN)):  # fmt: skip
        job = ApiJob(owner=people[owner], kind=kind, status=ApiJob.Status.SUCCEEDED, total=1, processed=1)
        job.result_file.save("scores.csv", ContentFile(b"transaction_id,score\nb1,0.5\n"), save=False)
        job.save()
        markers[name] = str(job.public_id)
    hook_x = WebhookSubscription.objects.create(
        integrator=people[X],
        url="https://93.184.215.14/x",
        event_types=["transaction.decided"],
        secret_salt="s",
    )
    markers["hook_x"] = str(hook_x.public_id)
    return clients, markers, people


def _money():
    return {pk: (balance, held) for pk, balance, held in Card.objects.values_list("pk", "balance", "held")}


@pytest.mark.parametrize("party", PARTIES)
@pytest.mark.parametrize(("name", "method", "path", "body", "expected", "echo"), [
    (*endpoint, set()) if len(endpoint) == 5 else endpoint for endpoint in ENDPOINTS
], ids=[e[0] for e in ENDPOINTS])  # fmt: skip
def test_authorization_matrix(
    world, django_capture_on_commit_callbacks, party, name, method, path, body, expected, echo
):
    clients, markers, people = world
    client = clients[party]
    url = path.format(**markers)
    if isinstance(body, dict):
        body = {
            key: value.format(**markers) if isinstance(value, str) else value for key, value in body.items()
        }
    money = _money()
    with django_capture_on_commit_callbacks(execute=True):
        if body == "CSV":
            response = client.post(
                url, {"file": SimpleUploadedFile("b.csv", CSV.encode())}, format="multipart"
            )
        elif body is None:
            response = getattr(client, method)(url)
        else:
            response = getattr(client, method)(url, body, format="json")
    assert response.status_code == expected[party], (name, party, response.content[:300])

    content = b"".join(response.streaming_content) if response.streaming else response.content
    text = content.decode()
    literal = {
        "tx_cust_a", "tx_cust_b", "tx_x1", "tx_x2", "tx_y1", "card_a", "card_b", "shared_card", "note-a", "note-b",
        "note-x",
    }  # fmt: skip
    secret_markers = {m: m for m in literal} | {
        m: markers[m] for m in ("job_x", "job_y", "job_train", "key_x", "key_y", "card_x", "card_y", "hook_x")
    }
    for marker, value in secret_markers.items():
        if marker not in VISIBLE[party] | echo:
            assert value not in text, f"{party} saw {marker} in {name}"
    if response.status_code >= 400:
        assert set(response.json()) == {"error"}
    # Money moved only on the caller's own cards (a new card of its own appears in neither).
    after = _money()
    moved = {pk for pk in money if after[pk] != money[pk]}
    caller = people.get(party)
    assert all(Card.objects.get(pk=pk).issuer_id == getattr(caller, "pk", -1) for pk in moved), (name, party)
