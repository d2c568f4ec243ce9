"""The review queue page: what analysts see, and that every action goes through the services."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry
from core.conf import check_declared_settings
from transactions import queue
from transactions.models import FraudReport, Transaction
from transactions.tests.factories import CardFactory, FraudReportFactory, TransactionFactory
from transactions.traffic import DatabaseTraffic

URL = reverse("admin:transactions_review_queue")


@pytest.fixture
def queue_items(db):
    card = CardFactory(credit_limit=Decimal("1000.00"))
    now = timezone.now()
    past = TransactionFactory(card=card, occurred_at=now - timedelta(days=3), amount=Decimal("12.00"))
    held = TransactionFactory(
        card=card,
        occurred_at=now - timedelta(hours=5),
        decided_at=now - timedelta(hours=5),
        status=Transaction.Status.PENDING_REVIEW,
        decision="review",
        risk_score=64,
        amount=Decimal("80.00"),
        reasons=[{"code": "amount_high", "message": "Much larger than usual for this card."}],
    )
    card.held = Decimal("80.00")
    card.save()
    reported = FraudReportFactory(
        transaction=TransactionFactory(occurred_at=now - timedelta(days=2), risk_score=12)
    )
    return {"past": past, "held": held, "report": reported}


def test_the_queue_lists_reports_and_reviews_oldest_first_with_history(client, analyst, queue_items):
    client.force_login(analyst)
    page = client.get(URL)
    assert page.status_code == 200
    body = page.content.decode()
    reported_tx = queue_items["report"].transaction.external_id
    held_tx = queue_items["held"].external_id
    # The report waits since it was filed (just now), the review since it was decided (5 h ago).
    assert body.index(held_tx) < body.index(reported_tx)
    assert "Much larger than usual for this card." in body
    assert ">64<" in body
    # The card's earlier transaction is shown beside the held one.
    assert "12.00" in body
    assert "2 items wait" in body


def test_confirm_fraud_from_the_queue_labels_and_audits(client, analyst, queue_items):
    client.force_login(analyst)
    held = queue_items["held"]
    response = client.post(
        URL, {"single": f"confirm_fraud:{held.pk}", f"note-{held.pk}": "Called the customer"}
    )
    assert response.status_code == 302
    held.refresh_from_db()
    assert held.is_fraud is True
    assert held.status == Transaction.Status.DECLINED
    assert held.label_known_at is not None
    assert held.card.held == Decimal("0.00")
    entry = AuditEntry.objects.get(action="transaction.review_fraud", target_id=str(held.pk))
    assert entry.actor == analyst and entry.note == "Called the customer"


def test_bulk_confirm_legitimate_settles_the_report_and_the_review(client, analyst, queue_items):
    client.force_login(analyst)
    held, report = queue_items["held"], queue_items["report"]
    client.post(URL, {"bulk": "confirm_legitimate", "selected": [held.pk, report.transaction.pk]})
    held.refresh_from_db()
    report.refresh_from_db()
    assert held.status == Transaction.Status.APPROVED and held.is_fraud is False
    assert report.status == FraudReport.Status.REJECTED
    assert report.transaction.is_fraud is False
    assert "Nothing waits for review." in client.get(URL).content.decode()


def test_assign_to_me_and_add_a_note(client, analyst, queue_items):
    client.force_login(analyst)
    held = queue_items["held"]
    client.post(URL, {"single": f"assign_me:{held.pk}"})
    client.post(URL, {"single": f"note:{held.pk}", f"note-{held.pk}": "Waiting for the merchant"})
    held.refresh_from_db()
    assert held.assigned_to == analyst
    assert AuditEntry.objects.filter(
        action="transaction.assign", target_id=str(held.pk), actor=analyst
    ).exists()
    assert (
        AuditEntry.objects.get(action="transaction.note", target_id=str(held.pk)).note
        == "Waiting for the merchant"
    )
    mine = client.get(URL + "?mine=1").content.decode()
    assert held.external_id in mine
    assert queue_items["report"].transaction.external_id not in mine


def test_an_empty_note_is_refused_with_a_message(client, analyst, queue_items):
    client.force_login(analyst)
    held = queue_items["held"]
    page = client.post(URL, {"single": f"note:{held.pk}"}, follow=True)
    assert "Write a note first." in page.content.decode()
    assert not AuditEntry.objects.filter(action="transaction.note").exists()


def test_the_queue_is_for_analysts_only(client, customer, model_manager, queue_items):
    client.force_login(customer)
    assert client.get(URL).status_code == 302  # to the admin login
    customer.is_staff = True
    customer.save()
    client.force_login(customer)
    assert client.get(URL).status_code == 403
    client.force_login(model_manager)
    assert client.get(URL).status_code == 403


def test_the_admin_index_links_the_queue(client, analyst):
    client.force_login(analyst)
    assert URL in client.get(reverse("admin:index")).content.decode()


def _held(*, occurred_ago, decided_ago, **fields):
    now = timezone.now()
    return TransactionFactory(
        occurred_at=now - occurred_ago,
        decided_at=None if decided_ago is None else now - decided_ago,
        status=Transaction.Status.PENDING_REVIEW,
        decision="review",
        **fields,
    )


def test_a_held_payment_waits_since_it_was_decided_and_the_dashboard_counts_it_so(client, analyst, db):
    # Submitted two days after it occurred, held a quarter of an hour ago.
    held = _held(occurred_ago=timedelta(days=2), decided_ago=timedelta(minutes=15))
    imported = _held(occurred_ago=timedelta(hours=3, minutes=20), decided_ago=None)
    items, _counts = queue.review_queue(with_history=False)
    ages = {item.transaction.pk: item.age_text for item in items}
    assert ages == {held.pk: "15 min", imported.pk: "3 h 20 min"}
    assert [item.transaction.pk for item in items] == [imported.pk, held.pk]
    # The traffic dashboard reads the same entry times.
    assert sorted(DatabaseTraffic().queue_ages()) == sorted(item.since for item in items)
    client.force_login(analyst)
    body = client.get(URL).content.decode()
    assert "waiting 15 min" in body and "waiting 3 h 20 min" in body


def test_each_item_is_coloured_by_its_age_against_the_sla(client, analyst, settings, db):
    settings.TRANSACTIONS_REVIEW_SLA_HOURS = 4
    fresh = _held(occurred_ago=timedelta(hours=1), decided_ago=timedelta(hours=1))
    due = _held(occurred_ago=timedelta(hours=3), decided_ago=timedelta(hours=3))
    late = _held(occurred_ago=timedelta(days=1, hours=5), decided_ago=timedelta(days=1, hours=5))
    client.force_login(analyst)
    body = client.get(URL).content.decode()
    for tx, state in ((fresh, "ok"), (due, "due"), (late, "late")):
        start = body.index(f'data-transaction="{tx.external_id}"')
        assert f'data-sla="{state}"' in body[start : body.index("</li>", start)]
    assert "waiting 1 d 5 h" in body
    assert queue.queue_counts().late == 1
    settings.TRANSACTIONS_REVIEW_SLA_HOURS = 2
    assert queue.queue_counts().late == 2


def test_the_counts_and_the_mine_and_unassigned_filters(client, analyst, queue_items):
    held, reported = queue_items["held"], queue_items["report"].transaction
    client.force_login(analyst)
    client.post(URL, {"single": f"assign_me:{held.pk}"})
    counts = queue.queue_counts(user=analyst)
    assert (counts.waiting, counts.reports, counts.held, counts.unassigned, counts.mine) == (2, 1, 1, 1, 1)
    page = client.get(URL).content.decode()
    assert f"Assigned to {analyst.email}" in page
    assert "<strong>1</strong> assigned to me" in page and "<strong>2</strong> waiting in all" in page
    unassigned = client.get(URL + "?show=unassigned").content.decode()
    assert reported.external_id in unassigned and held.external_id not in unassigned
    mine = client.get(URL + "?show=mine").content.decode()
    assert held.external_id in mine and reported.external_id not in mine


def test_a_wrong_sla_stops_the_checks(settings, db):
    settings.TRANSACTIONS_REVIEW_SLA_HOURS = 0
    (error,) = check_declared_settings()
    assert "TRANSACTIONS_REVIEW_SLA_HOURS" in error.msg and "at least" in error.msg
