"""No card number reaches a log: a filter for every handler that masks them in the final text
of a record (the message with its arguments, the traceback, the stack), and gunicorn's logger
with that filter on its error and access logs (request lines carry query strings).

Installed by fraudsite/settings.py (LOGGING) and gunicorn.conf.py (logger_class)."""

import logging
from urllib.parse import unquote

from core.cardnumbers import mask_card_numbers


def mask_log_text(text: str) -> str:
    """`text` with every card number masked, also one written percent-encoded in a URL
    ("4111%201111%20..."): then the decoded text is what is kept."""
    masked = current = mask_card_numbers(text)
    for _depth in range(3):  # "%2520" is "%20" encoded once more
        decoded = unquote(current) if "%" in current else current
        if decoded == current:
            break
        current = decoded
        remasked = mask_card_numbers(current)
        if remasked != current:  # a number showed once decoded: keep the decoded text, masked
            masked = current = remasked
    return masked


class CardNumberFilter(logging.Filter):
    """A handler filter: masks card numbers in the record it lets through (never drops one)."""

    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:  # bad arguments: the formatter would fail too; keep what we can, masked
            message = f"{record.msg} {record.args!r}"
        masked = mask_log_text(str(message))
        if masked != message:
            record.msg, record.args = masked, ()
        if record.exc_info and not record.exc_text:
            # Formatted once here, as any Formatter would, so that handlers print the masked text.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_log_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_log_text(record.stack_info)
        return True


def add_card_number_filter(handler):
    """Add the filter to `handler` once."""
    if not any(isinstance(existing, CardNumberFilter) for existing in handler.filters):
        handler.addFilter(CardNumberFilter())
    return handler


try:
    from gunicorn.glogging import Logger as _GunicornLogger
except ImportError:  # gunicorn serves production; a development box may not have it
    _GunicornLogger = None

if _GunicornLogger is not None:

    class GunicornLogger(_GunicornLogger):
        """gunicorn's logger, with the filter on every handler of its error and access logs
        (files, streams or syslog, whatever the command line chose)."""

        def setup(self, cfg):
            super().setup(cfg)
            # With a logconfig, gunicorn's loggers may also propagate to the root's handlers.
            for log in (self.error_log, self.access_log, logging.getLogger()):
                for handler in log.handlers:
                    add_card_number_filter(handler)
