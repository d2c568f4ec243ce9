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
            "precision": 0.25,
            "recall": 0.8,
            "flagged": 70,
            "block": {"precision": 0.95, "recall": 0.4, "flagged": 14},
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
    assert "<td>0.250</td><td>0.800</td><td>10.0</td>" in table  # review: 70 flagged over 7 days
    assert "<td>0.950</td><td>0.400</td><td>2.0</td>" in table  # block: 14 over 7 days
