"""Production settings: `check --deploy` is clean and secrets are required."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "prod-" + "k3y-" * 15,
    "CARD_FINGERPRINT_KEY": "prod-fingerprint-key",
    "DJANGO_ALLOWED_HOSTS": "fraud.example.com",
    "DJANGO_SETTINGS_MODULE": "fraudsite.settings",
}


def manage(*args, env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean | env, capture_output=True, text=True
    )


def test_check_deploy_is_clean_under_production_settings():
    result = manage("check", "--deploy", "--fail-level", "DEBUG", env=PRODUCTION_ENV)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "DJANGO_SECRET_KEY"}

    result = manage("check", env=env)

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_argon2_hashes_passwords_in_production():
    from fraudsite import settings

    assert settings.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_the_language_cookie_is_secure_httponly_and_lax_in_production():
    code = (
        "from django.conf import settings as s; "
        "print(s.LANGUAGE_COOKIE_SECURE, s.LANGUAGE_COOKIE_HTTPONLY, s.LANGUAGE_COOKIE_SAMESITE)"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=clean | PRODUCTION_ENV,
        capture_output=True,
        text=True,
    )

    assert result.stdout.split() == ["True", "True", "Lax"], result.stderr


def test_signed_in_pages_and_api_answers_are_not_stored(client, db):
    from accounts.tests import factories
    from accounts.tests.api_clients import key_client

    user = factories.customer()
    assert "no-store" not in client.get("/").get("Cache-Control", "")
    client.force_login(user)
    for url in ["/", "/dashboard/", "/api/v1/me/"]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert "no-store" in response["Cache-Control"], url
    api = key_client(factories.integrator())
    assert "no-store" in api.get("/api/v1/me/")["Cache-Control"]
