from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tests import factories as users
from accounts.tests.api_clients import error_of, key_client, session_client
from detection.models import Rule
from transactions.models import Card, FraudReport, Merchant, Transaction
from transactions.tests.factories import CardFactory, TransactionFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/transactions/"


def submit(client, **overrides):
    body = {"card_id": "card_1", "merchant_id": "m_1", "amount": "25.00", "currency": "EUR"} | overrides
    return client.post(URL, body, format="json")


def test_submit_decides_stores_and_explains(integrator, decision_is):
    decision_is("approve")
    response = submit(key_client(integrator), transaction_id="tx_1", channel="online", country="FR")
    assert response.status_code == 201
    body = response.json()
    assert body["transaction_id"] == "tx_1"
    assert body["decision"] == "approve" and body["status"] == "approved"
    assert body["risk_score"] == 5 and body["model_version"] == "test-model-1"
    assert body["reasons"] == [
        {
            "code": "card_velocity",
            "message": "1 transaction on this card in the last hour",
            "params": {"n": 1, "window": "1h"},
            "direction": "raises",
        }
    ]
    assert body["amount"] == "25.00"
    tx = Transaction.objects.get(external_id="tx_1")
    assert tx.submitted_by == integrator and tx.decision == "approve"
    assert tx.card.balance == Decimal("25.00")


def test_unknown_card_and_merchant_are_created_unowned(integrator):
    response = submit(key_client(integrator), card_id="card_new", merchant_id="m_new")
    assert response.status_code == 201
    assert response.json()["card_id"] == "card_new"  # their own id, never our key
    card = Card.objects.get(issuer=integrator)
    assert card.owner is None and card.display_id == "card_new"
    assert card.external_id == f"{integrator.pk}~card_new"
    assert Merchant.objects.filter(external_id="m_new").exists()


def test_read_back_by_our_id_and_by_yours(integrator):
    client = key_client(integrator)
    created = submit(client, transaction_id="tx_mine").json()
    assert client.get(f"{URL}tx_mine/").json()["id"] == created["id"]
    assert client.get(f"{URL}{created['id']}/").json()["transaction_id"] == "tx_mine"


def test_list_filters_and_cursor_pages(integrator, decision_is):
    client = key_client(integrator)
    decision_is("approve")
    for n in range(3):
        submit(client, transaction_id=f"tx_a{n}", card_id="card_a", amount="10.00")
    decision_is("block")
    submit(client, transaction_id="tx_b0", card_id="card_b", merchant_id="m_2")

    def ids(**params):
        return [row["transaction_id"] for row in client.get(URL, params).json()["results"]]

    assert set(ids(card="card_a")) == {"tx_a0", "tx_a1", "tx_a2"}
    assert ids(decision="block") == ["tx_b0"]
    assert ids(status="declined") == ["tx_b0"]
    assert ids(merchant="m_2") == ["tx_b0"]
    assert ids(occurred_after="2000-01-01T00:00:00Z", card="card_b") == ["tx_b0"]
    assert ids(occurred_before="2000-01-01T00:00:00Z") == []

    seen, page = [], client.get(URL, {"page_size": 3}).json()
    seen += [row["transaction_id"] for row in page["results"]]
    while page["next"]:
        page = client.get(page["next"]).json()
        seen += [row["transaction_id"] for row in page["results"]]
    assert sorted(seen) == ["tx_a0", "tx_a1", "tx_a2", "tx_b0"]


def test_bad_filter_value_is_a_400(integrator):
    response = key_client(integrator).get(URL, {"decision": "maybe"})
    assert response.status_code == 400
    assert "decision" in error_of(response)["fields"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"amount": "-1.00"}, "amount"),
        ({"amount": "abc"}, "amount"),
        ({"amount": "1e400"}, "amount"),
        ({"amount": "99999999999999999999.00"}, "amount"),
        ({"amount": "1.001"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": ["1"]}, "amount"),
        ({"card_id": 12}, "card_id"),
        ({"card_id": ""}, "card_id"),
        ({"card_id": "x" * 65}, "card_id"),
        ({"card_id": "bad id with spaces"}, "card_id"),
        ({"card_id": "4111111111111111"}, "card_id"),
        ({"merchant_id": None}, "merchant_id"),
        ({"currency": "euro"}, "currency"),
        ({"channel": "carrier-pigeon"}, "channel"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at"),
        ({"transaction_id": "no spaces allowed"}, "transaction_id"),
    ],
)
def test_malformed_transactions_are_refused_and_nothing_is_stored(integrator, overrides, field):
    response = submit(key_client(integrator), **overrides)
    assert response.status_code == 400, response.json()
    assert field in error_of(response)["fields"]
    assert not Transaction.objects.exists()


def test_missing_fields_and_non_object_bodies(integrator):
    client = key_client(integrator)
    response = client.post(URL, {}, format="json")
    assert response.status_code == 400
    assert {"card_id", "merchant_id", "amount"} <= set(error_of(response)["fields"])
    for body in ("[1, 2]", '"text"', "null", "{"):
        response = client.post(URL, body, content_type="application/json")
        assert response.status_code == 400, body
        error_of(response)
    assert not Transaction.objects.exists()


def test_a_duplicate_transaction_id_is_refused(integrator):
    client = key_client(integrator)
    assert submit(client, transaction_id="tx_dup").status_code == 201
    response = submit(client, transaction_id="tx_dup", amount="99.00")
    assert response.status_code == 400
    assert "transaction_id" in error_of(response)["fields"]
    assert Transaction.objects.count() == 1


def test_customers_cannot_submit_but_read_only_their_own(customer, other_customer):
    mine = TransactionFactory(card=CardFactory(owner=customer), external_id="tx_mine")
    TransactionFactory(card=CardFactory(owner=other_customer), external_id="tx_theirs")
    client = session_client(customer)
    assert submit(client).status_code == 403
    assert [r["transaction_id"] for r in client.get(URL).json()["results"]] == ["tx_mine"]
    assert client.get(f"{URL}{mine.pk}/").status_code == 200
    response = client.get(f"{URL}tx_theirs/")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_report_flow_customer_reports_analyst_resolves(customer, analyst):
    tx = TransactionFactory(card=CardFactory(owner=customer), external_id="tx_r")
    reported = session_client(customer).post(f"{URL}tx_r/reports/", {"note": "Not me"}, format="json")
    assert reported.status_code == 201
    assert reported.json()["source"] == "customer" and reported.json()["status"] == "open"
    again = session_client(customer).post(f"{URL}tx_r/reports/", {}, format="json")
    assert again.status_code == 400
    assert "transaction" in error_of(again)["fields"]

    staff = session_client(analyst)
    queue = staff.get("/api/v1/reports/", {"status": "open"}).json()["results"]
    assert [r["transaction_id"] for r in queue] == ["tx_r"]
    report_id = queue[0]["id"]
    resolved = staff.patch(
        f"/api/v1/reports/{report_id}/", {"status": "confirmed", "note": "ok"}, format="json"
    )
    assert resolved.status_code == 200
    assert resolved.json()["status"] == "confirmed"
    tx.refresh_from_db()
    assert tx.status == Transaction.Status.CONFIRMED_FRAUD and tx.is_fraud is True
    twice = staff.patch(f"/api/v1/reports/{report_id}/", {"status": "rejected"}, format="json")
    assert twice.status_code == 400
    assert session_client(customer).get(f"{URL}tx_r/reports/").json()[0]["status"] == "confirmed"


def test_integrator_reports_a_chargeback_on_its_own_transaction_only(integrator):
    client = key_client(integrator)
    submit(client, transaction_id="tx_cb")
    TransactionFactory(external_id="tx_other")
    response = client.post(f"{URL}tx_cb/reports/", {"source": "chargeback"}, format="json")
    assert response.status_code == 201 and response.json()["source"] == "chargeback"
    assert client.post(f"{URL}tx_other/reports/", {}, format="json").status_code == 404
    assert FraudReport.objects.count() == 1


def test_score_decides_without_storing(integrator, decision_is):
    decision_is("block")
    response = key_client(integrator).post(
        "/api/v1/decisions/score",
        {"card_id": "card_s", "merchant_id": "m_s", "amount": "10.00"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["decision"] == "block"
    assert response.json()["reasons"][0]["params"] == {"n": 9, "window": "1h"}
    assert not Transaction.objects.exists() and not Card.objects.exists()


def test_score_validates_like_submit(integrator):
    response = key_client(integrator).post(
        "/api/v1/decisions/score", {"card_id": "c", "merchant_id": "m", "amount": "-5"}, format="json"
    )
    assert response.status_code == 400
    assert "amount" in error_of(response)["fields"]


def test_analyst_sees_every_transaction(analyst, customer):
    TransactionFactory(card=CardFactory(owner=customer))
    submit(key_client(users.integrator()))
    assert len(session_client(analyst).get(URL).json()["results"]) == 2


def test_an_unexpected_failure_is_a_500_in_the_error_shape(integrator, monkeypatch):
    import transactions.api

    def broken(user):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(transactions.api, "transactions_for", broken)
    client = key_client(integrator)
    client.raise_request_exception = False
    response = client.get(URL)
    assert response.status_code == 500
    error = error_of(response)
    assert error["code"] == "server_error"
    assert "fire" not in error["message"]


def test_a_refused_transaction_leaves_no_new_card_or_merchant(integrator):
    response = submit(
        key_client(integrator),
        card_id="card_ghost",
        merchant_id="m_ghost",
        occurred_at="2999-01-01T00:00:00Z",
    )
    assert response.status_code == 400
    assert not Card.objects.filter(external_id="card_ghost").exists()
    assert not Merchant.objects.filter(external_id="m_ghost").exists()


def test_an_oversized_body_is_413_in_the_error_shape(integrator):
    body = '{"card_id": "c1", "merchant_id": "m1", "amount": "1", "x": "' + "x" * 3_000_000 + '"}'
    response = key_client(integrator).post(URL, body, content_type="application/json")
    assert response.status_code == 413
    assert error_of(response)["code"] == "request_too_large"
    assert not Transaction.objects.exists()


def test_a_disallowed_host_under_the_api_answers_json(client):
    response = client.get("/api/v1/me/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert error_of(response)["code"] == "bad_request"


def test_a_known_card_and_merchant_are_not_looked_up_again_until_edited(integrator):
    client = key_client(integrator)
    assert submit(client).status_code == 201  # creates card_1 and m_1
    assert submit(client).status_code == 201  # finds them
    with CaptureQueriesContext(connection) as queries:
        assert submit(client).status_code == 201
    lookups = [q["sql"] for q in queries.captured_queries if '"external_id" = ' in q["sql"]]
    assert lookups == []  # both came from the process's directory

    # An edit in the admin applies to the very next decision: a rule on the new category blocks.
    Rule.objects.create(name="No casinos", kind="category_in", values="7995", action="block", order=1)
    merchant = Merchant.objects.get(external_id="m_1")
    merchant.category = "7995"
    merchant.save()
    body = submit(client).json()
    assert (body["decision"], body["decided_by"]) == ("block", "rule")


def test_reasons_read_in_the_language_of_the_reader_not_of_the_payment(integrator, decision_is):
    decision_is("block")
    client = key_client(integrator)
    body = {"card_id": "card_1", "merchant_id": "m_1", "amount": "25.00", "transaction_id": "tx_zh"}
    assert client.post(URL, body, format="json", HTTP_ACCEPT_LANGUAGE="zh-hans").status_code == 201

    def reason(language):
        body = client.get(f"{URL}tx_zh/", HTTP_ACCEPT_LANGUAGE=language).json()
        return body["reasons"][0]

    english, chinese = reason("en"), reason("zh-hans")
    assert english["message"] == "9 transactions on this card in the last hour"
    assert any("\u4e00" <= ch <= "\u9fff" for ch in chinese["message"]) and "9" in chinese["message"]
    assert english["params"] == chinese["params"] == {"n": 9, "window": "1h"}


def test_reasons_stored_as_sentences_before_still_read_as_they_were(integrator):
    tx = TransactionFactory(
        submitted_by=integrator, reasons=[{"code": "amount_high", "message": "Much larger than usual."}]
    )
    body = key_client(integrator).get(f"{URL}{tx.external_id}/", HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert body["reasons"] == [
        {"code": "amount_high", "message": "Much larger than usual.", "params": {}, "direction": "raises"}
    ]


def test_a_factor_that_lowered_the_risk_reads_as_such(integrator):
    tx = TransactionFactory(
        submitted_by=integrator,
        reasons=[
            {"code": "amount_vs_card_history", "params": {"ratio": 7.0}, "contribution": 0.4},
            {"code": "new_merchant_for_card", "params": {}, "contribution": -0.05},
        ],
    )
    body = key_client(integrator).get(f"{URL}{tx.external_id}/", HTTP_ACCEPT_LANGUAGE="en").json()
    assert [(r["code"], r["direction"], r["message"]) for r in body["reasons"]] == [
        ("amount_vs_card_history", "raises", "Amount is 7× this card's usual spending"),
        ("new_merchant_for_card", "lowers", "A merchant this card pays regularly"),
    ]
