"""Data migrations of the transactions app, run for real: back to the state before, rows written
as they were then, forward again."""

import pytest

BEFORE = [("transactions", "0004_lean_indexes")]
AFTER = [("transactions", "0005_card_issuer")]


pytestmark = pytest.mark.slow  # migrates the test database back and forth: ~20 s


def test_0005_gives_integrators_their_cards_and_leaves_the_bank_its_own(migrator):
    apps = migrator(BEFORE)
    User, Group = apps.get_model("accounts", "User"), apps.get_model("auth", "Group")
    Card, Merchant = apps.get_model("transactions", "Card"), apps.get_model("transactions", "Merchant")
    Transaction, ListEntry = (
        apps.get_model("transactions", "Transaction"),
        apps.get_model("detection", "ListEntry"),
    )
    integrators = Group.objects.get_or_create(name="integrator")[0]
    customers = Group.objects.get_or_create(name="customer")[0]
    x, y, customer, admin = (
        User.objects.create(email=f"{name}@example.com", is_superuser=name == "admin")
        for name in ("x", "y", "customer", "admin")
    )
    x.groups.add(integrators)
    y.groups.add(integrators)
    customer.groups.add(customers)
    merchant = Merchant.objects.create(external_id="m1")
    cards = {
        name: Card.objects.create(external_id=name, **fields)
        for name, fields in {
            "c1": {},  # created by X through the API, later also charged by Y
            "c2": {},  # created by Y
            "card_abc": {"owner": customer, "fingerprint": "f" * 64},  # a customer's, charged by X
            "sim_1": {},  # imported, later charged by X
            "c_admin": {},  # created through the API by a superuser (who holds every role)
            "lonely": {},  # no transaction at all
        }.items()
    }
    for n, (card, submitter) in enumerate([
        ("c1", x), ("c1", y), ("c2", y), ("card_abc", customer), ("card_abc", x), ("sim_1", None),
        ("sim_1", x), ("c_admin", admin),
    ]):  # fmt: skip
        Transaction.objects.create(
            external_id=f"t{n}", card=cards[card], merchant=merchant, amount=1, occurred_at="2026-11-01T10:00Z",
            submitted_by=submitter,
        )  # fmt: skip
    ListEntry.objects.create(list_type="block", kind="card_id", value="c1")
    ListEntry.objects.create(list_type="allow", kind="card_id", value="sim_1")
    ListEntry.objects.create(list_type="block", kind="merchant_id", value="c2")

    apps = migrator(AFTER)

    Card, ListEntry = apps.get_model("transactions", "Card"), apps.get_model("detection", "ListEntry")
    found = {card.pk: (card.external_id, card.issuer_id) for card in Card.objects.all()}
    assert found == {
        cards["c1"].pk: (f"{x.pk}~c1", x.pk),
        cards["c2"].pk: (f"{y.pk}~c2", y.pk),
        cards["card_abc"].pk: ("card_abc", None),
        cards["sim_1"].pk: ("sim_1", None),
        cards["c_admin"].pk: (f"{admin.pk}~c_admin", admin.pk),
        cards["lonely"].pk: ("lonely", None),
    }
    # The block list follows X's card; other entries are untouched.
    assert set(ListEntry.objects.values_list("kind", "value")) == {
        ("card_id", f"{x.pk}~c1"),
        ("card_id", "sim_1"),
        ("merchant_id", "c2"),
    }
    # Money and history stay where they are.
    assert Transaction.objects.filter(card_id=cards["c1"].pk).count() == 2

    apps = migrator(BEFORE)  # and back, while no two integrators use the same id
    Card = apps.get_model("transactions", "Card")
    assert sorted(Card.objects.values_list("external_id", flat=True)) == sorted(cards)
