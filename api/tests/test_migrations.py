"""The API's models moved from `accounts` to `api` (accounts' 0007, api's 0001 and 0002), run for
real on a database in the state before: the rows stay where they are and read the same, and
permissions granted on the models follow them."""

import pytest
from django.utils import timezone

BEFORE = [("accounts", "0006_throttle_counts"), ("api", None)]
AFTER = [("api", "0002_content_types_from_accounts")]
MOVED = ("apijob", "idempotencyrecord", "throttlecount")

pytestmark = pytest.mark.slow  # migrates the test database back and forth


def test_the_models_move_to_api_with_their_rows_and_permissions(migrator):
    apps = migrator(BEFORE)
    ContentType, Permission = (
        apps.get_model("contenttypes", "ContentType"),
        apps.get_model("auth", "Permission"),
    )
    # As on a database that never had the api app: the content types are accounts'.
    ContentType.objects.filter(app_label="api", model__in=MOVED).delete()
    job_type = ContentType.objects.get_or_create(app_label="accounts", model="apijob")[0]
    permission = Permission.objects.get_or_create(
        content_type=job_type, codename="view_apijob", defaults={"name": "Can view API job"}
    )[0]
    user = apps.get_model("accounts", "User").objects.create(email="i@example.com", is_staff=True)
    user.user_permissions.add(permission)
    apps.get_model("accounts", "IdempotencyRecord").objects.create(
        owner=user, key="k1", fingerprint="f", response_status=201,
        response_content_type="application/json", response_body=b"{}", created_at=timezone.now(),
    )  # fmt: skip
    job = apps.get_model("accounts", "ApiJob").objects.create(owner=user, kind="train", status="succeeded")
    apps.get_model("accounts", "ThrottleCount").objects.create(key="t", count=2, expires_at=1)

    apps = migrator(AFTER)

    records = apps.get_model("api", "IdempotencyRecord").objects.values_list(
        "owner_id", "key", "response_body"
    )
    assert [(owner, key, bytes(body)) for owner, key, body in records] == [(user.pk, "k1", b"{}")]
    assert list(apps.get_model("api", "ApiJob").objects.values_list("public_id", "owner_id")) == [
        (job.public_id, user.pk)
    ]
    assert list(apps.get_model("api", "ThrottleCount").objects.values_list("key", "count")) == [("t", 2)]
    ContentType = apps.get_model("contenttypes", "ContentType")
    assert ContentType.objects.get(pk=job_type.pk).app_label == "api"
    granted = apps.get_model("accounts", "User").objects.get(pk=user.pk).user_permissions.get()
    assert (granted.content_type.app_label, granted.codename) == ("api", "view_apijob")

    apps = migrator(BEFORE)  # and back
    assert apps.get_model("accounts", "ApiJob").objects.get().public_id == job.public_id
    assert apps.get_model("contenttypes", "ContentType").objects.get(pk=job_type.pk).app_label == "accounts"
