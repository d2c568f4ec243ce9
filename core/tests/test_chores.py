"""Periodic chores of the task workers (core/chores.py)."""

import logging

import pytest
from django.db import OperationalError

from core.chores import Chores

CALLS = []


def tidy():
    CALLS.append("tidy")
    return 3


def broken():
    CALLS.append("broken")
    raise RuntimeError("a bug in a chore")


def needs_database():
    CALLS.append("needs_database")
    raise OperationalError("connection refused")


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture(autouse=True)
def _calls():
    CALLS.clear()


def test_each_chore_runs_at_start_then_at_its_interval():
    clock = Clock()
    chores = Chores({f"{__name__}.tidy": 60}, clock=clock)
    chores.run_due()
    chores.run_due()
    clock.now += 59
    chores.run_due()
    assert CALLS == ["tidy"]
    clock.now += 1
    chores.run_due()
    assert CALLS == ["tidy", "tidy"]


def test_a_failing_chore_is_logged_and_does_not_stop_the_others(caplog):
    clock = Clock()
    chores = Chores({f"{__name__}.broken": 60, f"{__name__}.tidy": 60}, clock=clock)
    with caplog.at_level(logging.INFO):
        chores.run_due()
    assert CALLS == ["broken", "tidy"]
    failure = next(r for r in caplog.records if r.levelno == logging.ERROR)
    assert "broken" in failure.getMessage() and failure.exc_info is not None
    clock.now += 60
    chores.run_due()
    assert CALLS == ["broken", "tidy", "broken", "tidy"]  # tried again at its next time


def test_an_unreachable_database_propagates_and_the_chore_stays_due():
    chores = Chores({f"{__name__}.needs_database": 600}, clock=Clock())
    with pytest.raises(OperationalError):
        chores.run_due()
    with pytest.raises(OperationalError):
        chores.run_due()  # not postponed by 10 minutes: it runs as soon as the database is back
    assert CALLS == ["needs_database", "needs_database"]


def test_the_settings_schedule_the_idempotency_purge(settings):
    assert "api.idempotency.idempotency_records_purge" in settings.PERIODIC_CHORES
