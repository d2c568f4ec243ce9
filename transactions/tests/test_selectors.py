import pytest
from django.http import Http404

from accounts.tests import factories as users
from transactions import selectors
from transactions.tests.factories import CardFactory, FraudReportFactory, TransactionFactory, integrator_card

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_customers_data(customer, other_customer):
    mine = TransactionFactory(card=CardFactory(owner=customer))
    theirs = TransactionFactory(card=CardFactory(owner=other_customer))
    return mine, theirs


def test_customers_see_only_their_own_transactions_and_reports(customer, two_customers_data):
    mine, theirs = two_customers_data
    my_report = FraudReportFactory(transaction=mine, reported_by=customer)
    FraudReportFactory(transaction=theirs)

    assert list(selectors.transactions_for(customer)) == [mine]
    assert list(selectors.fraud_reports_for(customer)) == [my_report]


def test_a_customer_gets_404_for_another_customers_rows_by_id_or_external_id(customer, two_customers_data):
    mine, theirs = two_customers_data
    report = FraudReportFactory(transaction=theirs)

    assert selectors.transaction_get_for(customer, mine.external_id) == mine
    assert selectors.transaction_get_for(customer, mine.pk) == mine
    for lookup in (theirs.external_id, theirs.pk, str(theirs.pk), "nope"):
        with pytest.raises(Http404):
            selectors.transaction_get_for(customer, lookup)
    assert not selectors.fraud_reports_for(customer).filter(pk=report.pk).exists()


@pytest.mark.parametrize("make_staff", [users.analyst, users.model_manager])
def test_analysts_and_model_managers_see_everything(make_staff, two_customers_data):
    staff = make_staff()

    assert set(selectors.transactions_for(staff)) == set(two_customers_data)


def test_superusers_see_everything(admin_user, two_customers_data):
    assert set(selectors.transactions_for(admin_user)) == set(two_customers_data)


def test_integrators_see_what_they_submitted(integrator, two_customers_data):
    mine, _theirs = two_customers_data
    submitted = TransactionFactory(submitted_by=integrator, card=integrator_card(integrator, "c1"))
    # Submitted before card ids were scoped, on a customer's card: still theirs to read.
    legacy = TransactionFactory(submitted_by=integrator, card=mine.card)

    assert set(selectors.transactions_for(integrator)) == {submitted, legacy}
    with pytest.raises(Http404):
        selectors.transaction_get_for(integrator, mine.external_id)


def test_anonymous_users_see_nothing(two_customers_data):
    from django.contrib.auth.models import AnonymousUser

    assert not selectors.transactions_for(AnonymousUser()).exists()


def test_the_dashboard_shows_only_own_cards_recent_transactions_and_fraud_history(customer, other_customer):
    card = CardFactory(owner=customer, balance=250, held=50, credit_limit=1000)
    CardFactory(owner=other_customer)
    transactions = [TransactionFactory(card=card) for _ in range(12)]
    report = FraudReportFactory(transaction=transactions[0])
    FraudReportFactory()

    dashboard = selectors.customer_dashboard(customer)

    assert [summary.card for summary in dashboard.cards] == [card]
    summary = dashboard.cards[0]
    assert (summary.transaction_count, summary.used_percent) == (12, 30)
    assert summary.card.available_credit == 700
    assert len(dashboard.recent_transactions) == selectors.RECENT_TRANSACTIONS
    assert all(tx.card == card for tx in dashboard.recent_transactions)
    assert dashboard.fraud_reports == [report] and dashboard.open_reports == 1
    assert (dashboard.total_balance, dashboard.total_available) == (250, 700)
