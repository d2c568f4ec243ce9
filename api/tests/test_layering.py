"""Imports only go down (fraudsite -> transactions -> detection -> api -> accounts -> core): the
api app builds on accounts and core only, and accounts imports none of the apps above it."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
OURS = {"fraudsite", "transactions", "detection", "api", "accounts", "core"}
ABOVE = {
    "api": {"fraudsite", "transactions", "detection"},
    # fraudsite is left out for accounts until fraudsite/rows.py moves to core.
    "accounts": {"transactions", "detection", "api"},
}


def _imported_apps(path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            if name.split(".")[0] in OURS:
                yield name.split(".")[0], node.lineno


@pytest.mark.parametrize("app", sorted(ABOVE))
def test_an_app_imports_nothing_above_it(app):
    upward = [
        f"{path.relative_to(ROOT)}:{line} imports {imported}"
        for path in sorted((ROOT / app).rglob("*.py"))
        if "tests" not in path.parts
        for imported, line in _imported_apps(path)
        if imported in ABOVE[app]
    ]
    assert upward == []
