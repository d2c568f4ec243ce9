"""Settings for the test suite: production settings with test-friendly transport and speed."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-" + "t" * 40)
os.environ.setdefault("CARD_FINGERPRINT_KEY", "test-card-fingerprint-key")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")

from fraudsite.settings import *  # noqa: F403
from fraudsite.settings import BASE_DIR, INSTALLED_APPS

if "demo" not in INSTALLED_APPS:
    INSTALLED_APPS = [*INSTALLED_APPS, "demo"]

# Tests (and the browser tests' live server) speak plain HTTP.
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
LANGUAGE_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0

# Argon2 is deliberately slow; the production hasher list is checked by its own test.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
MEDIA_ROOT = BASE_DIR / "var" / "test-media"

# SQLite: test in a file, as production runs, not in a shared-cache memory database. In shared
# cache, a writer meets "database table is locked" at once instead of waiting its turn, so
# tests with concurrent writers (balances, idempotency) could not run.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    (BASE_DIR / "var").mkdir(exist_ok=True)
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / "test-db.sqlite3")}  # noqa: F405
