"""Our settings are declared once (core.conf) and a wrong value stops `manage.py check`, so a
deployment learns of a typo at startup, not from a 500 later."""

import ast
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from core.conf import DECLARED, check_declared_settings

ROOT = Path(__file__).resolve().parent.parent
OURS = ["core", "accounts", "transactions", "detection", "demo", "fraudsite"]


def _getattr_settings_reads():
    for package in OURS:
        for path in (ROOT / package).rglob("*.py"):
            if "tests" in path.parts or "migrations" in path.parts or path == ROOT / "core" / "conf.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id == "getattr"
                    and isinstance(node.args[0], ast.Name)
                    and node.args[0].id == "settings"
                ):
                    yield f"{path.relative_to(ROOT)}:{node.lineno}"


def test_no_setting_of_ours_is_read_with_a_default_of_its_own():
    assert list(_getattr_settings_reads()) == []


def test_every_default_passes_its_own_check():
    assert [problem for s in list(DECLARED.values()) if (problem := s.problem())] == []
    assert {"DETECTION_LABEL_DELAY_DAYS", "TRANSACTIONS_MAX_AMOUNT", "PERIODIC_CHORES"} <= set(DECLARED)


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("DETECTION_HISTORY_SOURCE", "transactions.history.NoSuchSource", "does not import"),
        ("PERIODIC_CHORES", {"core.chores.no_such_chore": 60}, "does not import"),
        ("DETECTION_BLOCK_PRECISION", 1.5, "at most 1"),
        ("DETECTION_LABEL_DELAY_DAYS", -1, "at least 0"),
        ("DETECTION_BACKTEST_JUSTIFICATION_DAYS", 0, "at least 1"),
        ("TRANSACTIONS_MAX_AMOUNT", "a lot", "cannot be read"),
        ("TRANSACTIONS_EARLIEST_OCCURRED_AT", "last year", "cannot be read"),
    ],
)
def test_a_wrong_value_is_a_startup_error(db, settings, name, value, says):
    setattr(settings, name, value)

    (error,) = check_declared_settings()
    assert error.id == "core.E001" and name in error.msg and says in error.msg
    with pytest.raises(SystemCheckError, match=name):
        call_command("check")
