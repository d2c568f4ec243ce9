"""Telling "the database cannot be reached" apart from a bug, for the web (503 instead of 500)
and the task worker (wait and reconnect instead of exiting).

Django wraps every driver error: a refused or dropped connection, a server shutting down, a
statement cancelled, SQLite's "database is locked" after its timeout are OperationalError; a
connection already closed is InterfaceError. None of them says anything about the request, and
retrying later is the right answer to each. Data and integrity errors are bugs or bad input and
stay what they are."""

from django.db import InterfaceError, OperationalError

DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)


def database_unavailable(exc: BaseException | None) -> bool:
    return isinstance(exc, DATABASE_UNAVAILABLE)


def one_line(exc: BaseException, *, limit: int = 300) -> str:
    """The exception as one short log line: drivers' messages span several lines."""
    text = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return text if len(text) <= limit else text[: limit - 1] + "…"
