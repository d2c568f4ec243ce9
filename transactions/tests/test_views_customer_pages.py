"""The customer pages read alike: merchants by name, one date and one money format per language,
the customer's fraud reports on the overview (transactions.views and their templates)."""

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from transactions.models import FraudReport, Transaction
from transactions.tests.factories import CardFactory, FraudReportFactory, MerchantFactory, TransactionFactory

pytestmark = pytest.mark.django_db

MOMENT = datetime(2026, 3, 4, 17, 5, tzinfo=UTC)
# The same moment as each language writes it (fraudsite/formats/).
DATES = {"en": "4 Mar 2026, 17:05", "zh-hans": "2026年3月4日 17:05"}
OTHER_DATES = re.compile(r"\b03/04/2026\b|\bMarch 4, 2026\b|\bMar\. 4, 2026\b|p\.m\.")
TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "transactions"


@pytest.fixture
def signed_in(client, customer):
    client.force_login(customer)
    return client


def url(name, *args):
    return reverse(f"transactions:{name}", args=args)


def read(client, path, language):
    client.cookies["django_language"] = language
    response = client.get(path)
    assert response.status_code == 200
    return response.text


@pytest.fixture
def big_payment(customer):
    card = CardFactory(owner=customer, credit_limit=Decimal("25000.00"))
    merchant = MerchantFactory(name="ElectroWorld", category="5732")
    tx = TransactionFactory(card=card, merchant=merchant, amount=Decimal("12345.60"), occurred_at=MOMENT)
    report = FraudReportFactory(transaction=tx, reported_by=customer)
    FraudReport.objects.filter(pk=report.pk).update(created_at=MOMENT)
    return tx


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_every_page_writes_money_grouped_and_dates_one_way(signed_in, big_payment, language):
    tx = big_payment
    report = tx.reports.get()
    pages = {
        "overview": url("dashboard"),
        "list": url("transaction_list"),
        "detail": url("transaction_detail", tx.pk),
        "card": url("card_detail", tx.card.pk),
        "reports": url("report_list"),
        "report": url("report_detail", report.pk),
    }
    for name, path in pages.items():
        page = read(signed_in, path, language)
        assert "12,345.60" in page, name
        assert "12345.60" not in page, name
        assert DATES[language] in page, name
        assert not OTHER_DATES.search(page), name


def test_customer_templates_use_the_two_named_formats_only():
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r'\|date:"([^"]+)"', template.read_text()))
    assert used <= {"DATETIME_FORMAT", "DATE_FORMAT"}


def test_the_amount_goes_through_the_form_and_api_without_separators(signed_in, customer):
    card = CardFactory(owner=customer, credit_limit=Decimal("50000.00"))
    merchant = MerchantFactory(name="SkyAir", category="4511")
    data = {
        "card": card.pk,
        "merchant": merchant.pk,
        "new_merchant": "",
        "amount": "1234.56",
        "occurred_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        "channel": "online",
        "country": "US",
    }

    # Shown again after an error: the value as typed, not grouped.
    again = signed_in.post(url("transaction_new"), data | {"country": "USA"})
    assert 'value="1234.56"' in again.text and "1,234.56" not in again.text

    signed_in.post(url("transaction_new"), data)
    tx = Transaction.objects.get()
    assert tx.amount == Decimal("1234.56")
    assert "1,234.56" in signed_in.get(url("transaction_detail", tx.pk)).text
    api = signed_in.get(f"/api/v1/transactions/{tx.external_id}/", headers={"accept": "application/json"})
    assert api.status_code == 200 and "1,234" not in api.text


def test_the_payment_form_names_merchants_and_their_kind_not_ids_or_codes(signed_in, customer):
    CardFactory(owner=customer)
    MerchantFactory(external_id="sim_M000007", name="", category="5818", country="US")
    MerchantFactory(name="Corner Coffee", category="5812")

    page = read(signed_in, url("transaction_new"), "en")

    merchants = page.split('name="merchant"', 1)[1].split("</select>", 1)[0]
    options = re.findall(r'<option value="\d+"[^>]*>([^<]*)</option>', merchants)
    assert options == ["Corner Coffee — Restaurants", "Digital goods · US (M000007)"]
    assert "sim_M" not in page and "5818" not in page
    # What static/js/site.js needs to put a search box on it.
    assert re.search(r'<select name="merchant"[^>]*class="[^"]*js-searchable', page)
    assert 'data-search-label="Search merchants"' in page


def test_the_detail_page_names_the_merchant_category(signed_in, customer):
    tx = TransactionFactory(
        card=CardFactory(owner=customer), merchant=MerchantFactory(name="Cafe", category="5812")
    )

    page = read(signed_in, url("transaction_detail", tx.pk), "en")

    assert "(Restaurants)" in page and "(5812)" not in page


def test_the_overview_shows_open_reports_first_then_the_latest_closed_ones(signed_in, customer):
    card = CardFactory(owner=customer)
    closed = [
        FraudReportFactory(
            transaction=TransactionFactory(card=card, merchant=MerchantFactory(name=f"Closed {n}")),
            status=FraudReport.Status.REJECTED,
        )
        for n in range(7)
    ]
    opened = FraudReportFactory(
        transaction=TransactionFactory(card=card, merchant=MerchantFactory(name="Still open"))
    )
    opened.created_at = closed[0].created_at  # older than the closed ones: still first
    opened.save()

    page = read(signed_in, url("dashboard"), "en")

    section = page.split('data-testid="dashboard-reports"', 1)[1].split("</section>", 1)[0]
    shown = re.findall(r"(Still open|Closed \d)", section)
    assert shown == ["Still open", "Closed 6", "Closed 5", "Closed 4", "Closed 3", "Closed 2"]
    assert "1 open report" in section and "See all 8 reports" in section
    assert url("report_list") in section
