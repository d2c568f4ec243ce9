"""The interactive API docs work in a real browser under our content security policy."""

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_swagger_ui_renders_every_tag_with_no_csp_or_console_errors(page, live_server):
    violations = []
    page.on(
        "console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None
    )
    external = []
    page.on(
        "request",
        lambda req: None if req.url.startswith((live_server.url, "data:")) else external.append(req.url),
    )

    page.goto("/api/docs/")
    page.wait_for_selector(".opblock-tag-section", timeout=15_000)
    tags = page.locator(".opblock-tag").all_inner_texts()
    assert {"transactions", "reports", "decisions", "batches", "models", "me", "keys"} <= {
        t.split("\n")[0].strip() for t in tags
    }
    assert page.locator(".opblock").count() >= 15
    create = page.locator("#operations-transactions-transactions_create")
    create.locator(".opblock-summary").click()
    # The operation expands after the click: wait for it rather than look once.
    expect(create.locator(".parameters").get_by_text("Idempotency-Key").first).to_be_visible()
    assert create.get_by_text("tx_2026_000123").first.is_visible()  # the documented example

    assert violations == []
    assert page.console_errors == []
    assert external == [], "the docs must load nothing from another origin"
