"""A champion that cannot be loaded is visible: in the models API, in the admin, and on every
decision an earlier champion takes in its place."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.tests.api_clients import key_client, session_client
from detection.serving import registry
from detection.tests.pipelines import register_feature_model, register_toy
from transactions.models import Transaction

pytestmark = pytest.mark.django_db


@pytest.fixture
def fresh(settings):
    """Every process-level check reads the database again (as after the check interval)."""
    settings.DETECTION_CHAMPION_CHECK_SECONDS = 0
    return settings


@pytest.fixture
def two_champions(fresh):
    earlier = register_feature_model(algorithm="hgb", promote="force")
    champion = register_feature_model(algorithm="logreg", promote="force")
    return earlier, champion


def tamper(version):
    """Change the artifact on disk (one byte), as corruption or an attacker would."""
    path = registry.artifact_full_path(version)
    original = path.read_bytes()
    path.write_bytes(original[:-1] + bytes([original[-1] ^ 0xFF]))
    return original


def submit(client, **body):
    body = {"card_id": "card_fb", "merchant_id": "m_fb", "amount": "12.50"} | body
    return client.post("/api/v1/transactions/", body, format="json")


# --- the models API --------------------------------------------------------------------------


def test_the_models_api_says_the_champion_is_refused_and_which_version_serves(two_champions, model_manager):
    earlier, champion = two_champions
    client = session_client(model_manager)
    healthy = client.get("/api/v1/models/").json()["serving"]
    assert healthy == {
        "state": "ok",
        "champion": champion.version,
        "serving": champion.version,
        "fallback_from": "",
        "champion_loadable": True,
        "error_code": "",
        "error": "",
    }

    tamper(champion)
    listed = client.get("/api/v1/models/").json()
    assert listed["serving"]["state"] == "fallback"
    assert listed["serving"]["champion"] == champion.version
    assert listed["serving"]["serving"] == earlier.version
    assert listed["serving"]["fallback_from"] == champion.version
    assert listed["serving"]["champion_loadable"] is False
    assert listed["serving"]["error_code"] == "checksum_mismatch"
    assert "checksum" in listed["serving"]["error"]
    assert [v["version"] for v in listed["results"]] == [champion.version, earlier.version]
    detail = client.get(f"/api/v1/models/{champion.version}/").json()
    assert detail["status"] == "champion"
    assert detail["serving"] == listed["serving"]


def test_a_missing_artifact_with_nothing_to_fall_back_to_is_unavailable(fresh, analyst):
    only = register_toy(promote="force")
    registry.artifact_full_path(only).unlink()
    serving = session_client(analyst).get(f"/api/v1/models/{only.version}/").json()["serving"]
    assert serving["state"] == "unavailable"
    assert serving["serving"] is None and serving["champion_loadable"] is False
    assert serving["error_code"] == "missing"


def test_with_no_champion_the_api_says_so(fresh, analyst):
    serving = session_client(analyst).get("/api/v1/models/").json()["serving"]
    assert serving["state"] == "no_champion"
    assert serving["champion"] is None and serving["champion_loadable"] is None


def test_an_artifact_restored_from_backup_serves_again_within_the_check_interval(two_champions, analyst):
    _earlier, champion = two_champions
    original = tamper(champion)
    assert registry.serving_status().state == "fallback"
    registry.artifact_full_path(champion).write_bytes(original)
    # No promotion, no restart: the file's change is noticed at the next check.
    status = registry.serving_status()
    assert status.state == "ok" and status.serving == champion.version


# --- decisions taken by a fallback ------------------------------------------------------------


def test_decisions_by_a_fallback_version_are_marked_stored_and_returned(two_champions, integrator):
    earlier, champion = two_champions
    client = key_client(integrator)
    normal = submit(client, transaction_id="tx_normal").json()
    assert normal["model_version"] == champion.version and normal["model_fallback_from"] == ""

    tamper(champion)
    response = submit(client, transaction_id="tx_fallback")
    assert response.status_code == 201
    body = response.json()
    assert body["decided_by"] in ("model", "rule", "allow_list", "block_list")
    assert body["model_version"] == earlier.version
    assert body["model_fallback_from"] == champion.version
    stored = Transaction.objects.get(external_id="tx_fallback")
    assert (stored.model_version, stored.model_fallback_from) == (earlier.version, champion.version)
    assert Transaction.objects.get(external_id="tx_normal").model_fallback_from == ""
    read = client.get("/api/v1/transactions/tx_fallback/").json()
    assert read["model_fallback_from"] == champion.version

    scored = client.post(
        "/api/v1/decisions/score",
        {"card_id": "card_fb", "merchant_id": "m_fb", "amount": "3.00"},
        format="json",
    )
    assert scored.status_code == 200, scored.content
    assert scored.json()["model_fallback_from"] == champion.version


def test_marking_a_fallback_costs_the_decision_no_query(two_champions, integrator, settings, admin_user):
    earlier, champion = two_champions
    client = key_client(integrator)

    def queries_of_a_warm_decision(prefix):
        # The same model decides the same transactions on cards of their own in both cases.
        settings.DETECTION_CHAMPION_CHECK_SECONDS = 0
        warm = submit(
            client, transaction_id=f"{prefix}_warm", card_id=f"card_{prefix}", merchant_id=f"m_{prefix}"
        )
        assert warm.status_code == 201  # loads the model
        settings.DETECTION_CHAMPION_CHECK_SECONDS = 3600
        with CaptureQueriesContext(connection) as queries:
            measured = submit(
                client,
                transaction_id=f"{prefix}_measured",
                card_id=f"card_{prefix}",
                merchant_id=f"m_{prefix}",
            )
        assert measured.status_code == 201 and measured.json()["model_version"] == earlier.version
        return [query["sql"] for query in queries]

    original = tamper(champion)
    fallback = queries_of_a_warm_decision("fallback")
    assert Transaction.objects.get(external_id="fallback_measured").model_fallback_from == champion.version
    registry.artifact_full_path(champion).write_bytes(original)
    registry.rollback(actor=admin_user)  # the earlier version decides as the champion itself
    normal = queries_of_a_warm_decision("normal")
    assert Transaction.objects.get(external_id="normal_measured").model_fallback_from == ""
    assert len(fallback) == len(normal), (fallback, normal)


# --- the admin ---------------------------------------------------------------------------------


def admin_pages(champion):
    return [
        reverse("admin:detection_modelversion_changelist"),
        reverse("admin:detection_modelversion_change", args=[champion.pk]),
        reverse("admin:detection_retrainingrun_changelist"),
        reverse("admin:detection_dashboard_models"),
        reverse("admin:detection_dashboard_traffic"),
    ]


def test_the_admin_shows_a_red_banner_naming_the_refused_champion_and_what_to_do(
    two_champions, admin_user, client
):
    earlier, champion = two_champions
    client.force_login(admin_user)
    for url in admin_pages(champion):
        assert 'data-testid="serving-banner"' not in client.get(url).content.decode(), url

    tamper(champion)
    for url in admin_pages(champion):
        page = client.get(url).content.decode()
        assert 'class="errornote serving-banner"' in page, url
        assert (
            f"The champion {champion.version} cannot be loaded: checksum mismatch (its artifact file was "
            f"changed or corrupted); decisions use {earlier.version}."
        ) in page, url
        assert "What to do:" in page and champion.artifact_path in page, url
    versions = client.get(reverse("admin:detection_modelversion_changelist")).content.decode()
    assert "refused: checksum mismatch" in versions and "decides (fallback)" in versions


def test_the_banner_says_when_no_model_loads_at_all(fresh, admin_user, client):
    only = register_toy(promote="force")
    tamper(only)
    client.force_login(admin_user)
    page = client.get(reverse("admin:detection_modelversion_changelist")).content.decode()
    assert f"The champion {only.version} cannot be loaded" in page
    assert "every transaction goes to review" in page
