"""Fixtures shared by every app's tests: users per role and a real browser."""

import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import translation

from accounts.tests import factories

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def pytest_configure(config):
    """Under pytest-xdist each worker has its own test database (pytest-django adds the worker's
    suffix); give each its own Redis database too, since tests flush theirs. Modules read
    TEST_REDIS_URL when they are collected, which is after this."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw") and "TEST_REDIS_URL" not in os.environ:
        os.environ["TEST_REDIS_URL"] = f"redis://127.0.0.1:6379/{8 + int(worker[2:]) % 8}"


ARTIFACTS = Path(__file__).resolve().parent / "test-artifacts"


@pytest.fixture(autouse=True)
def _forget_process_caches():
    """Per-process caches outlive a test's rolled-back database: start each test without them."""
    from core.cache import clear_all

    clear_all()
    yield


@pytest.fixture(autouse=True)
def _default_language():
    """The locale middleware leaves the last request's language active in the thread: a test
    after one that read a page in Chinese would otherwise run in Chinese."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


def _migrate(targets):
    """Migrate to `targets` (app, migration or None); the models as they are then, the apps not
    named in `targets` at their latest."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    named = {app for app, _ in targets}
    others = [node for node in executor.loader.graph.leaf_nodes() if node[0] not in named]
    return executor.loader.project_state([t for t in targets if t[1] is not None] + others).apps


@pytest.fixture
def migrator(transactional_db):
    """Run data migrations for real, by hand; the database ends at the latest state whatever
    happens."""
    yield _migrate
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.fixture
def customer(db):
    return factories.customer()


@pytest.fixture
def other_customer(db):
    return factories.customer()


@pytest.fixture
def analyst(db):
    return factories.analyst()


@pytest.fixture
def model_manager(db):
    return factories.model_manager()


@pytest.fixture
def integrator(db):
    return factories.integrator()


@pytest.fixture
def admin_user(db):
    from accounts.models import User

    return User.objects.create_superuser(email="root@example.com", password=factories.PASSWORD)


@pytest.fixture(scope="session")
def _playwright():
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        if os.environ.get("CI") == "true":
            pytest.fail(f"Browser tests are required on CI but {CHROMIUM} is missing.")
        pytest.skip("Chromium is not installed (apt-get install chromium); browser tests skipped.")
    # Playwright's sync API runs an event loop in this thread; the tests still use the ORM
    # synchronously around it, which is safe here.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(_playwright):
    browser = _playwright.chromium.launch(
        executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    )
    yield browser
    browser.close()


@pytest.fixture
def page(browser, live_server, request):
    """A fresh browser context on the live server; a screenshot is kept when the test fails."""
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.console_errors = errors
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
