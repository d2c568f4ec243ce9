from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.settings import api_settings

from accounts.models import AuditEntry, IntegratorKey
from accounts.roles import Role
from accounts.services import api_key_revoke, user_set_roles
from accounts.tests.api_clients import anonymous_client, error_of, key_client, session_client
from api.throttling import KeyScopedRateThrottle

pytestmark = pytest.mark.django_db


def test_me_with_a_key_names_the_owner_and_the_key(integrator):
    client = key_client(integrator)
    body = client.get("/api/v1/me/").json()
    assert body["email"] == integrator.email
    assert body["roles"] == ["integrator"]
    assert body["auth"] == "api_key"
    assert client.secret.startswith(body["api_key_prefix"] + ".")


def test_me_with_a_session(customer):
    body = session_client(customer).get("/api/v1/me/").json()
    assert body["email"] == customer.email
    assert body["auth"] == "session"
    assert body["api_key_prefix"] is None


def test_anonymous_gets_401_in_the_error_shape_with_the_scheme():
    response = anonymous_client().get("/api/v1/me/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Api-Key"
    assert error_of(response)["code"] == "not_authenticated"


@pytest.mark.parametrize("header", ["Api-Key nope.nope", "Api-Key", "Api-Key a b", "Api-Key ünïcode"])
def test_a_bad_key_is_refused(header):
    client = anonymous_client()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"


def test_key_is_shown_once_hashed_at_rest_and_listed_by_prefix(integrator):
    client = session_client(integrator)
    created = client.post("/api/v1/keys/", {"name": "checkout"})
    assert created.status_code == 201
    secret = created.json()["key"]
    prefix = created.json()["prefix"]
    stored = IntegratorKey.objects.get(prefix=prefix)
    assert secret not in stored.hashed_key and secret not in stored.id
    listed = client.get("/api/v1/keys/").json()
    assert [k["prefix"] for k in listed] == [prefix]
    assert "key" not in listed[0] and secret not in str(listed)
    assert AuditEntry.objects.filter(
        action="api_key.create", target_id=integrator.pk, after__prefix=prefix
    ).exists()


def test_a_revoked_key_stops_working_at_once(integrator):
    client = key_client(integrator)
    prefix = client.secret.split(".")[0]
    assert client.get("/api/v1/me/").status_code == 200
    assert session_client(integrator).delete(f"/api/v1/keys/{prefix}/").status_code == 204
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"


def test_cannot_revoke_someone_elses_key(integrator):
    from accounts.tests.factories import integrator as make_integrator

    other = key_client(make_integrator())
    prefix = other.secret.split(".")[0]
    response = session_client(integrator).delete(f"/api/v1/keys/{prefix}/")
    assert response.status_code == 404
    assert other.get("/api/v1/me/").status_code == 200


def test_expired_key_and_deactivated_owner_are_refused(integrator):
    client = key_client(integrator)
    key = IntegratorKey.objects.get()
    key.expiry_date = timezone.now() - timedelta(seconds=1)
    key.save()  # as the admin does
    assert client.get("/api/v1/me/").status_code == 401
    key.expiry_date = None
    key.save()
    assert client.get("/api/v1/me/").status_code == 200
    integrator.is_active = False
    integrator.save()
    assert client.get("/api/v1/me/").status_code == 401


def test_owners_deactivated_in_bulk_from_the_admin_lose_their_verified_keys_at_once(integrator, admin_client):
    client = key_client(integrator)
    assert client.get("/api/v1/me/").status_code == 200  # the key is now remembered
    admin_client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "deactivate_users", "_selected_action": [integrator.pk]},
    )
    assert client.get("/api/v1/me/").status_code == 401


def test_a_verified_key_costs_no_query_until_it_or_its_owner_changes(integrator, admin_user):
    client = key_client(integrator)
    with CaptureQueriesContext(connection) as first:
        assert client.get("/api/v1/transactions/").status_code == 200
    with CaptureQueriesContext(connection) as again:
        assert client.get("/api/v1/transactions/").status_code == 200

    def key_lookups(queries):
        return [q for q in queries if "accounts_integratorkey" in q["sql"]]

    assert key_lookups(first.captured_queries)  # the first request looked the key up...
    assert key_lookups(again.captured_queries) == []  # ...the next one did not
    assert len(again.captured_queries) < len(first.captured_queries)

    # Taking the role away, or revoking the key, applies to the very next request.
    integrator.groups.clear()
    assert client.post("/api/v1/transactions/", {}, format="json").status_code == 403
    user_set_roles(user=integrator, roles=[Role.INTEGRATOR])
    assert client.post("/api/v1/transactions/", {}, format="json").status_code == 400  # allowed, empty
    api_key_revoke(key=IntegratorKey.objects.get(), actor=admin_user)
    assert client.get("/api/v1/me/").status_code == 401


def test_only_integrators_hold_keys(customer):
    response = session_client(customer).post("/api/v1/keys/", {"name": "mine"})
    assert response.status_code == 403
    assert error_of(response)["code"] == "permission_denied"
    assert not IntegratorKey.objects.exists()


def test_key_name_is_required(integrator):
    response = session_client(integrator).post("/api/v1/keys/", {"name": ""})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert "name" in error["fields"]


def test_session_writes_need_the_csrf_token(integrator):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(integrator)
    response = client.post("/api/v1/keys/", {"name": "x"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in error_of(response)["message"]


def test_unknown_api_url_method_and_bad_json_answer_in_the_shape(integrator):
    client = key_client(integrator)
    missing = client.get("/api/v1/no-such-thing/")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    wrong_method = client.put("/api/v1/me/", {})
    assert wrong_method.status_code == 405 and error_of(wrong_method)["code"] == "method_not_allowed"
    bad_json = client.post("/api/v1/keys/", "{not json", content_type="application/json")
    assert bad_json.status_code == 400 and error_of(bad_json)["code"] == "parse_error"
    form = client.post("/api/v1/keys/", "name=x", content_type="application/x-www-form-urlencoded")
    assert form.status_code == 415 and error_of(form)["code"] == "unsupported_media_type"


def test_pages_outside_the_api_keep_their_html_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_throttling_is_per_key_and_answers_429_in_the_shape(integrator):
    cache.clear()
    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "read": "2/min"}
    first, second = key_client(integrator, name="a"), key_client(integrator, name="b")
    with override_settings(REST_FRAMEWORK={**_rest_settings(), "DEFAULT_THROTTLE_RATES": rates}):
        assert [first.get("/api/v1/me/").status_code for _ in range(2)] == [200, 200]
        throttled = first.get("/api/v1/me/")
        assert throttled.status_code == 429
        assert error_of(throttled)["code"] == "throttled"
        assert int(throttled["Retry-After"]) > 0
        # Another key of the same integrator has its own budget.
        assert second.get("/api/v1/me/").status_code == 200
    cache.clear()


def test_the_rate_limit_slides_instead_of_starting_afresh_each_minute(integrator, monkeypatch):
    cache.clear()
    clock = [600.0]  # the start of a minute
    monkeypatch.setattr(KeyScopedRateThrottle, "timer", lambda self: clock[0])
    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "read": "2/min"}
    client = key_client(integrator)
    with override_settings(REST_FRAMEWORK={**_rest_settings(), "DEFAULT_THROTTLE_RATES": rates}):
        assert [client.get("/api/v1/me/").status_code for _ in range(2)] == [200, 200]
        clock[0] = 661.0  # a new minute, yet 59 s of the last one still count: room for one more
        assert [client.get("/api/v1/me/").status_code for _ in range(2)] == [200, 429]
        throttled = client.get("/api/v1/me/")
        assert int(throttled["Retry-After"]) == 59
        clock[0] = 700.0  # 20 s of the first minute left in the window: 0.7 + 1 used
        assert client.get("/api/v1/me/").status_code == 200
    cache.clear()


def _rest_settings():
    from django.conf import settings

    return settings.REST_FRAMEWORK
