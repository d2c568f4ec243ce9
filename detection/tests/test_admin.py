import pytest
from django.urls import reverse

from accounts.models import AuditEntry
from detection.models import ListEntry, ModelVersion
from detection.tests.pipelines import register_toy

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:detection_modelversion_changelist"


def test_model_versions_list_with_status_and_quality(client, analyst):
    version = register_toy(ap=0.4321)
    client.force_login(analyst)
    page = client.get(reverse(CHANGELIST)).content.decode()
    assert version.version in page
    assert "0.432" in page
    detail = client.get(reverse("admin:detection_modelversion_change", args=[version.pk]))
    assert detail.status_code == 200
    assert "average_precision" in detail.content.decode()


def test_promotion_asks_for_confirmation_then_promotes(client, model_manager):
    first = register_toy(ap=0.5)
    second = register_toy(ap=0.1)
    client.force_login(model_manager)
    url = reverse(CHANGELIST)
    data = {"action": "promote_selected", "_selected_action": [second.pk]}
    response = client.post(url, data)
    assert response.status_code == 200
    assert "Every new transaction will be scored by" in response.content.decode()
    assert ModelVersion.objects.get(status="champion") == first
    response = client.post(url, {**data, "confirm": "yes"})
    assert response.status_code == 302
    assert ModelVersion.objects.get(status="champion") == second
    entry = AuditEntry.objects.get(action="model_version.promote", target_id=str(second.pk))
    assert entry.actor == model_manager


def test_roll_back_restores_the_previous_champion(client, model_manager):
    first = register_toy(ap=0.1)
    register_toy(ap=0.9)
    client.force_login(model_manager)
    data = {"action": "roll_back", "_selected_action": [first.pk], "confirm": "yes"}
    response = client.post(reverse(CHANGELIST), data, follow=True)
    assert "is the champion again" in response.content.decode()
    assert ModelVersion.objects.get(status="champion") == first
    # Nothing earlier: a clear message, no change.
    response = client.post(reverse(CHANGELIST), data, follow=True)
    assert "No earlier champion" in response.content.decode()
    assert ModelVersion.objects.get(status="champion") == first


def test_analysts_cannot_promote(client, analyst):
    register_toy(ap=0.5)
    other = register_toy(ap=0.1)
    client.force_login(analyst)
    data = {"action": "promote_selected", "_selected_action": [other.pk], "confirm": "yes"}
    client.post(reverse(CHANGELIST), data)
    assert ModelVersion.objects.get(pk=other.pk).status == "candidate"


def test_list_entries_record_who_added_them(client, model_manager):
    client.force_login(model_manager)
    response = client.post(
        reverse("admin:detection_listentry_add"),
        {"list_type": "block", "kind": "country", "value": "ng", "reason": "test", "active": "on"},
    )
    assert response.status_code == 302
    entry = ListEntry.objects.get()
    assert (entry.value, entry.created_by) == ("NG", model_manager)
    response = client.post(
        reverse("admin:detection_listentry_add"),
        {"list_type": "block", "kind": "country", "value": "Nigeria", "active": "on"},
    )
    assert "two-letter" in response.content.decode()


def test_a_version_shows_what_each_band_flags_a_day(client, analyst):
    from datetime import timedelta

    version = register_toy(ap=0.4)
    start = version.created_at
    metrics = {
        "test": {
            "thresholds": {"review": 0.2, "block": 0.9},
            # At or above review: 84 flagged, 30 of them fraud, of 40 frauds in all.
            "confusion_matrix": {"tp": 30, "fp": 54, "fn": 10, "tn": 9000},
            # At or above block: 14 flagged, 12 of them fraud.
            "block": {"confusion_matrix": {"tp": 12, "fp": 2, "fn": 28, "tn": 9052}},
        }
    }
    ModelVersion.objects.filter(pk=version.pk).update(
        metrics=metrics, test_start=start, test_end=start + timedelta(days=7)
    )
    client.force_login(analyst)

    page = client.get(reverse("admin:detection_modelversion_change", args=[version.pk])).content.decode()

    table = page[page.index('data-testid="bands"') :]
    table = table[: table.index("</table>")]
    assert "On the test period" in table
    # Held for review alone: 70 over 7 days, 18 of them fraud (18/70), 18 of the 40 frauds.
    assert "<td>0.257</td><td>0.450</td><td>10.0</td>" in table
    # Declined: 14 over 7 days, 12 fraud, 12 of the 40.
    assert "<td>0.857</td><td>0.300</td><td>2.0</td>" in table
