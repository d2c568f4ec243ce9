"""Integrators see only their own cards: each integrator's `card_id` names a card in its own
namespace, never another integrator's or a customer's, online or offline, and nothing it reads
back (responses, reasons, batches) tells it anything of another party's card."""

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.tests import factories as users
from accounts.tests.api_clients import error_of, key_client, session_client
from detection import conf
from detection.ml.features import compute_features_frame
from detection.models import ListEntry, Rule
from transactions import services
from transactions.history import transactions_frame
from transactions.models import Card, Transaction
from transactions.tests.factories import VISA, CardFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/transactions/"
SCORE = "/api/v1/decisions/score"


def post(client, card_id, amount="10.00", url=URL, **fields):
    body = {"card_id": card_id, "merchant_id": "m_shared", "amount": amount} | fields
    return client.post(url, body, format="json")


def ids(client, **filters):
    return sorted(row["transaction_id"] for row in client.get(URL, filters).json()["results"])


def card_of(user):
    """The card of the user's first submission."""
    return Transaction.objects.filter(submitted_by=user).order_by("pk").first().card


def ago(**delta):
    return (timezone.now() - timedelta(**delta)).isoformat()


@pytest.fixture
def champion(settings, tmp_path):
    """A real (small) model on real features, so decisions compute and store features and
    explain themselves as they do in production."""
    from detection.serving import registry, rules
    from detection.tests.pipelines import register_toy

    settings.DETECTION_MODELS_DIR = tmp_path / "models"
    registry.clear_cache()
    rules.clear_cache()

    def register(features):
        return register_toy(features, promote="force")

    yield register
    registry.clear_cache()
    rules.clear_cache()


@pytest.fixture
def a_and_b():
    a, b = users.integrator(), users.integrator()
    return (a, key_client(a)), (b, key_client(b))


def test_two_integrators_with_the_same_card_id_get_two_cards_and_see_only_their_own(decision_is, a_and_b):
    decision_is("approve")
    (a, client_a), (b, client_b) = a_and_b
    for n in range(3):
        assert post(client_a, "c1", "100.00", transaction_id=f"a{n}").status_code == 201

    response = post(client_b, "c1", "50.00", transaction_id="b0")

    assert response.status_code == 201
    assert response.json()["card_id"] == "c1"  # their own id, as they sent it
    card_a, card_b = card_of(a), card_of(b)
    assert card_a.pk != card_b.pk
    assert (card_a.balance, card_b.balance) == (Decimal("300.00"), Decimal("50.00"))
    assert ids(client_b) == ["b0"] and ids(client_b, card="c1") == ["b0"]
    assert ids(client_a, card="c1") == ["a0", "a1", "a2"]
    assert client_b.get(f"{URL}a0/").status_code == 404
    assert client_a.get(f"{URL}b0/").status_code == 404
    listed = client_a.get(URL).json()["results"] + [client_b.get(f"{URL}b0/").json()]
    assert {row["card_id"] for row in listed} == {"c1"}  # never our key "<id>~c1"


def test_the_same_card_id_never_shares_history_online_or_offline(champion, a_and_b):
    champion(["card_count_30d", "card_max_amount_1d", "amount"])
    Rule.objects.create(name="Burst", kind="velocity", max_count=3, window_minutes=600, action="block")
    (_a, client_a), (_b, client_b) = a_and_b
    for n in range(3):
        assert (
            post(client_a, "c1", "40.00", transaction_id=f"a{n}", occurred_at=ago(hours=3 - n)).status_code
            == 201
        )

    assert post(client_b, "c1", "40.00", transaction_id="b0", occurred_at=ago(minutes=30)).status_code == 201
    assert post(client_a, "c1", "40.00", transaction_id="a3", occurred_at=ago(minutes=20)).status_code == 201

    stored = {tx.external_id: tx for tx in Transaction.objects.all()}
    assert stored["b0"].features["card_count_30d"] == 0  # A's three never count for B's "c1"
    assert stored["b0"].features["card_max_amount_1d"] == 0
    assert stored["b0"].decided_by != "rule"  # nor for B's velocity
    # A's three do count for A's "c1", as payments or as declined attempts (the champion decides).
    a3 = stored["a3"].features
    assert a3["card_count_30d"] + a3["card_declined_count_7d"] == 3
    assert (stored["a3"].decided_by, stored["a3"].decision) == ("rule", "block")
    # Offline, the training frame groups them apart too, and gives the same values.
    frame = transactions_frame()
    offline = compute_features_frame(frame, label_delay=conf.label_delay())
    card_of = dict(zip(frame["transaction_id"], frame["card_id"], strict=True))
    assert card_of["b0"] != card_of["a0"] == card_of["a3"]
    for line, tx_id in frame["transaction_id"].items():
        for name in (
            "card_count_30d",
            "card_declined_count_7d",
            "card_max_amount_1d",
            "seconds_since_card_previous",
        ):
            assert offline.at[line, name] == pytest.approx(stored[tx_id].features[name]), (tx_id, name)


def test_an_integrator_naming_a_customers_card_gets_its_own_card(customer, decision_is):
    decision_is("approve")
    theirs = services.card_add(
        owner=customer, number=VISA, expiry_month=12, expiry_year=timezone.now().year + 2
    )
    integrator = users.integrator()
    client = key_client(integrator)

    for variant in (theirs.external_id, theirs.external_id.upper()):
        response = post(client, variant, "75.00")
        assert response.status_code == 201
        assert response.json()["card_id"] == variant

    theirs.refresh_from_db()
    assert (theirs.balance, theirs.held) == (Decimal("0.00"), Decimal("0.00"))
    assert not theirs.transactions.exists()
    own = Card.objects.filter(issuer=integrator)
    assert own.count() == 2 and not own.filter(owner__isnull=False).exists()
    assert not own.filter(fingerprint__isnull=False).exists()
    assert ids(session_client(customer)) == []


def test_another_namespace_cannot_be_spelt(decision_is, a_and_b):
    """A's key for its card is "<A's id>~c1"; B sending that gets a clear 400, exactly what any
    id with "~" gets, and A's card is untouched."""
    decision_is("approve")
    (a, client_a), (_b, client_b) = a_and_b
    post(client_a, "c1", "100.00")
    card = card_of(a)

    taken = post(client_b, card.external_id, "5.00")
    free = post(client_b, f"{a.pk + 1000}~c1", "5.00")

    assert taken.status_code == free.status_code == 400
    assert error_of(taken)["fields"] == error_of(free)["fields"]
    assert list(error_of(taken)["fields"]) == ["card_id"]
    card.refresh_from_db()
    assert card.balance == Decimal("100.00") and card.transactions.count() == 1


def _statements(queries):
    """The shape of each statement: which tables it touches, values left out."""
    return [re.sub(r"'[^']*'|\"s\d+_x\d+\"|\b\d+\b", "?", q["sql"]) for q in queries.captured_queries]


def test_an_integrator_cannot_tell_whether_another_uses_a_card_id(decision_is, a_and_b):
    decision_is("approve")
    (_a, client_a), (_b, client_b) = a_and_b
    post(client_a, "c_used", "100.00", merchant_id="m_warm")
    post(client_b, "c_warm", "1.00", merchant_id="m_warm")  # B's key and the merchant are warm

    answers, statements = {}, {}
    for card_id in ("c_used", "c_free"):
        with CaptureQueriesContext(connection) as queries:
            response = post(client_b, card_id, "20.00", merchant_id="m_warm")
        body = response.json()
        answers[card_id] = (
            response.status_code,
            body["card_id"] == card_id,
            body["decision"],
            body["reasons"],
        )
        statements[card_id] = _statements(queries)

    assert answers["c_used"] == answers["c_free"]
    # The same statements, in the same order: the same work, so the same time.
    assert statements["c_used"] == statements["c_free"]


def test_scoring_another_partys_card_id_reads_none_of_its_history_lists_or_card(customer, a_and_b):
    """/decisions/score: B naming A's card id, or a customer's, is B naming a card of its own that
    has no history yet: A's velocity, A's block-list entry and the customer's blocked card number
    do not apply, and the answer is the one for an id nobody uses."""
    (a, client_a), (_b, client_b) = a_and_b
    Rule.objects.create(name="Burst", kind="velocity", max_count=2, window_minutes=600, action="block")
    for n in range(3):
        assert post(client_a, "c1", "30.00", occurred_at=ago(minutes=30 - n)).status_code == 201
    a_card = card_of(a)
    assert post(client_a, "c1", url=SCORE).json()["decided_by"] == "rule"  # A's own velocity
    ListEntry.objects.create(list_type="block", kind="card_id", value=a_card.external_id, reason="A's")
    theirs = services.card_add(
        owner=customer, number=VISA, expiry_month=12, expiry_year=timezone.now().year + 2
    )
    ListEntry.objects.create(list_type="block", kind="card_fingerprint", value=theirs.fingerprint)

    fresh = post(client_b, "c_nobody_uses", url=SCORE)
    assert fresh.status_code == 200
    for card_id in ("c1", theirs.external_id):
        response = post(client_b, card_id, url=SCORE)
        assert response.status_code == 200
        assert response.json() == fresh.json(), card_id
    assert fresh.json()["decided_by"] not in ("rule", "block_list")


def test_decline_reasons_carry_no_figure_of_another_partys_credit(decision_is, a_and_b):
    decision_is("approve")
    (_a, client_a), (_b, client_b) = a_and_b
    assert post(client_a, "c1", "4321.00").json()["decision"] == "approve"  # 679.00 left of 5000

    second = post(client_b, "c1", "1500.00").json()  # B's own card: its own 5000
    over = post(client_b, "c1", "4000.00").json()  # B's own card, now short

    assert second["decision"] == "approve"
    assert (over["decision"], over["reasons"][0]["code"]) == ("block", services.OVER_CREDIT_LIMIT)
    assert over["reasons"][0]["params"] == {} and not re.search(r"\d", over["reasons"][0]["message"])
    for body in (second, over):  # no credit figure of either card, in words or in values
        assert not re.search(r"679|5,?000|3,?500|1,?000", str(body["reasons"])), body["reasons"]


@pytest.fixture
def a_spent_and_was_defrauded(champion, analyst, a_and_b):
    """A paid 777.77 three times on its card "c1" at the shared merchant, and all three were
    confirmed fraud; the model reads the card's spending and the merchant's known frauds."""
    champion(["merchant_known_frauds_recent", "card_max_amount_1d", "amount"])
    (a, client_a), (_b, client_b) = a_and_b
    for n in range(3):
        post(client_a, "c1", "777.77", transaction_id=f"a{n}", occurred_at=ago(hours=5 - n))
    for tx in Transaction.objects.filter(submitted_by=a):
        report = services.fraud_report_create(transaction=tx, reported_by=a, source="integrator")
        services.fraud_report_resolve(report=report, resolved_by=analyst, confirmed=True)
    return client_b


def test_reasons_given_to_an_integrator_never_quote_another_partys_spending(a_spent_and_was_defrauded):
    body = post(a_spent_and_was_defrauded, "c1", "12.00").json()

    assert body["reasons"], body
    for reason in body["reasons"]:
        assert "777" not in reason["message"], reason


def test_merchant_reasons_say_it_is_risky_never_other_partys_figures(a_spent_and_was_defrauded):
    """A merchant is shared: that it had confirmed fraud is the intelligence the product shares
    with everyone paying there; how many frauds, or which share of its payments, is not."""
    body = post(a_spent_and_was_defrauded, "c_b", "12.00").json()

    merchant = [reason for reason in body["reasons"] if reason["code"] == "merchant_fraud"]
    assert merchant, body
    assert not re.search(r"\d", merchant[0]["message"]), merchant


def test_a_block_listed_card_is_not_named_in_the_reason(a_and_b):
    """Staff block-list a card by its key; the integrator is told its card is on the block list,
    never the key (its own id is all it knows)."""
    (a, client_a), _b = a_and_b
    post(client_a, "c_blocked")
    card = card_of(a)
    ListEntry.objects.create(list_type="block", kind="card_id", value=card.external_id, reason="stolen")

    body = post(client_a, "c_blocked").json()

    assert (body["decision"], body["decided_by"], body["card_id"]) == ("block", "block_list", "c_blocked")
    assert body["reasons"][0]["message"] == "On the block list (this card)."
    assert card.external_id not in str(body)


def test_an_integrators_batch_speaks_its_own_card_ids(
    champion, customer, a_and_b, django_capture_on_commit_callbacks
):
    """Batch scoring applies card lists to the integrator's own cards only: another party's
    block-listed id in B's file is B's own card, not listed."""
    champion(["card_count_30d", "amount"])
    (a, client_a), (b, client_b) = a_and_b
    post(client_a, "c1")
    post(client_b, "mine")
    customer_card = CardFactory(owner=customer).external_id
    for card_id in (card_of(a).external_id, customer_card, card_of(b).external_id):
        ListEntry.objects.create(list_type="block", kind="card_id", value=card_id)
    content = "transaction_id,occurred_at,card_id,merchant_id,amount\n" + "".join(
        f"t{n},2026-11-01T10:0{n}:00Z,{card_id},m1,5.00\n"
        for n, card_id in enumerate(["c1", customer_card, "mine", "other"])
    )

    with django_capture_on_commit_callbacks(execute=True):
        created = client_b.post(
            "/api/v1/batches/", {"file": SimpleUploadedFile("b.csv", content.encode())}, format="multipart"
        )
    job = client_b.get(f"/api/v1/batches/{created.json()['id']}/").json()
    assert job["status"] == "succeeded", job
    result = client_b.get(f"/api/v1/batches/{created.json()['id']}/result/")
    rows = {
        row["transaction_id"]: row
        for row in csv.DictReader(io.StringIO(b"".join(result.streaming_content).decode()))
    }

    assert "block_list" not in rows["t0"]["reasons"] and "block_list" not in rows["t1"]["reasons"]
    assert rows["t2"]["reasons"].startswith("block_list")  # B's own blocked card still is
    assert rows["t2"]["decision"] == "block"


def test_the_list_filter_and_the_admin_tell_staff_whose_card_it_is(decision_is, analyst, client, a_and_b):
    decision_is("approve")
    (a, client_a), (b, client_b) = a_and_b
    post(client_a, "c1", transaction_id="a0")
    post(client_b, "c1", transaction_id="b0")
    staff = session_client(analyst)
    key_a = card_of(a).external_id

    assert ids(staff, card="c1") == ["a0", "b0"]  # every card shown as "c1"
    assert ids(staff, card=key_a) == ["a0"]  # one card, by its key
    client.force_login(analyst)
    cards = client.get(reverse("admin:transactions_card_changelist")).text
    assert a.email in cards and b.email in cards and key_a in cards
    txs = client.get(reverse("admin:transactions_transaction_changelist")).text
    assert f'c1<br><small class="card-namespace">Integrator {a.email}</small>' in txs
    detail = client.get(reverse("admin:transactions_card_change", args=[card_of(b).pk])).text
    assert f"Integrator {b.email}" in detail and "c1" in detail


def test_importing_never_creates_a_card_under_an_integrators_key(tmp_path, a_and_b):
    from transactions.importing import ImportRejected, transactions_import

    (a, client_a), _b = a_and_b
    post(client_a, "c1", merchant_id="m1")
    existing = card_of(a)
    path = tmp_path / "history.csv"
    path.write_text(
        "transaction_id,occurred_at,card_id,merchant_id,amount\n"
        f"i1,2026-11-01T10:00:00Z,{existing.external_id},m1,5.00\n"
        f"i2,2026-11-01T10:00:00Z,{a.pk}~c2,m1,5.00\n"
    )
    with pytest.raises(ImportRejected) as refused:
        transactions_import(path=path, progress=False)
    assert [row["line"] for row in refused.value.rejected] == [3]
    assert not Card.objects.filter(external_id=f"{a.pk}~c2").exists()

    path.write_text(path.read_text().rsplit("i2,", 1)[0])
    assert transactions_import(path=path, progress=False).imported == 1  # an export read back
    assert existing.transactions.count() == 2
