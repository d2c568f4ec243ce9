"""rule_create and list_entry_add: validated as the admin validates, in the audit trail."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from accounts.models import AuditEntry
from detection import services
from detection.models import ListEntry, Rule

pytestmark = pytest.mark.django_db


def test_a_rule_is_validated_and_audited(model_manager):
    rule = services.rule_create(
        actor=model_manager,
        name="Countries",
        kind=Rule.Kind.COUNTRY_IN,
        action=Rule.Action.REVIEW,
        values="ru,ng",
    )

    assert rule.values == "NG, RU" and rule.active
    entry = AuditEntry.objects.get(action="rule.create")
    assert entry.actor == model_manager and entry.target_id == str(rule.pk)
    assert entry.after["values"] == "NG, RU"
    with pytest.raises(ValidationError) as error:
        services.rule_create(
            actor=model_manager, name="No amount", kind=Rule.Kind.AMOUNT_ABOVE, action="review"
        )
    assert "amount" in error.value.message_dict
    money = services.rule_create(
        actor=model_manager, name="Big", kind=Rule.Kind.AMOUNT_ABOVE, action="block", amount=Decimal("10.50")
    )
    assert AuditEntry.objects.get(target_id=str(money.pk), action="rule.create").after["amount"] == "10.50"
    assert Rule.objects.count() == 2


def test_a_list_entry_is_validated_and_audited_and_never_holds_a_card_number(model_manager):
    entry = services.list_entry_add(
        actor=model_manager, list_type="block", kind=ListEntry.Kind.COUNTRY, value=" kp ", reason="Sanctions"
    )

    assert entry.value == "KP" and entry.created_by == model_manager
    assert AuditEntry.objects.get(action="list_entry.add").note == "Sanctions"
    with pytest.raises(ValidationError):
        services.list_entry_add(
            actor=model_manager, list_type="block", kind=ListEntry.Kind.CARD_ID, value="4111111111111111"
        )
    card_in_reason = services.list_entry_add(
        actor=model_manager,
        list_type="allow",
        kind=ListEntry.Kind.MERCHANT_ID,
        value="m-1",
        reason="Owner's card 4111 1111 1111 1111",
    )
    assert "4111 1111 1111 1111" not in card_in_reason.reason
    with pytest.raises(ValidationError):  # the same value twice on one list
        services.list_entry_add(
            actor=model_manager, list_type="block", kind=ListEntry.Kind.COUNTRY, value="KP"
        )
    assert ListEntry.objects.count() == 2
