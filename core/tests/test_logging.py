import io
import logging

import pytest

from core.logging import CardNumberFilter, mask_log_text


@pytest.fixture
def log():
    """A logger whose one handler carries the filter, writing to a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(CardNumberFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("core.tests.card_numbers")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.output = stream.getvalue
    yield logger
    logger.removeHandler(handler)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("4111 1111 1111 1111",), "paid with •••• 1111"),
        (("card_378282246310005",), "paid with card_•••• 0005"),
        (("４１１１１１１１１１１１１１１１",), "paid with •••• 1111"),
    ],
)
def test_the_final_message_is_masked_arguments_included(log, args, expected):
    log.warning("paid with %s", *args)

    assert log.output() == f"WARNING {expected}\n"


def test_tracebacks_are_masked(log):
    try:
        int("4111-1111-1111-1111")
    except ValueError:
        log.exception("could not read %s", "a number")

    output = log.output()
    assert "Traceback" in output and "ValueError" in output
    assert "•••• 1111" in output and "4111-1111" not in output


def test_stack_info_is_masked(log):
    def deep(number):
        log.info("here", stack_info=True)

    deep("5555555555554444")
    assert "Stack (most recent call last)" in log.output()


def test_percent_encoded_numbers_in_urls_are_masked():
    line = '"GET /api/v1/transactions/?card=4111%201111%201111%201111&x=%2541 HTTP/1.1" 200'

    assert "4111" not in mask_log_text(line).replace("•••• 1111", "")
    assert mask_log_text("GET /?card=4111%25201111%25201111%25201111").endswith("•••• 1111")


def test_lines_without_card_numbers_are_left_as_they_are(log):
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "took %d ms for %s", (42, "tx_20261124123456"), None
    )

    assert CardNumberFilter().filter(record) is True
    assert record.args == (42, "tx_20261124123456")  # untouched: structured handlers keep their arguments
    assert mask_log_text('127.0.0.1 - - [01/Dec/2026:03:51:51 +0000] "GET / HTTP/1.1" 200 4347') == (
        '127.0.0.1 - - [01/Dec/2026:03:51:51 +0000] "GET / HTTP/1.1" 200 4347'
    )


def test_a_record_with_bad_arguments_is_still_masked_not_dropped():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s %s", ("4111111111111111",), None)

    assert CardNumberFilter().filter(record) is True
    assert "4111111111111111" not in record.getMessage()


@pytest.mark.django_db
def test_the_site_logs_through_the_filter(client, settings):
    """Django's request log (a 404 names the path) goes through the configured handler."""
    stream = io.StringIO()
    handlers = [
        h for h in logging.getLogger().handlers if any(isinstance(f, CardNumberFilter) for f in h.filters)
    ]
    assert handlers
    previous = [h.setStream(stream) for h in handlers]
    try:
        client.get("/nowhere/4111-1111-1111-1111/?pan=5555%205555%205555%204444")
    finally:
        for handler, old in zip(handlers, previous, strict=True):
            handler.setStream(old)

    output = stream.getvalue()
    assert "Not Found: /nowhere/•••• 1111/" in output
    assert "4111" not in output.replace("•••• 1111", "")
    # Django's own loggers have no handler of their own left (none without the filter).
    assert logging.getLogger("django").handlers == []
    assert logging.getLogger("django.request").handlers == []
