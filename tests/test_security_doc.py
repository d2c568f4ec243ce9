"""docs/security.md names the test that proves each promise: every one it names must exist, so a
renamed or deleted test cannot leave a promise unproved while the page still claims it."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = re.compile(r"`([\w/]+\.py)::(\w+)`")


def _test_names(path):
    tree = ast.parse(path.read_text())
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def test_every_test_named_in_the_security_page_exists():
    references = REFERENCE.findall((ROOT / "docs" / "security.md").read_text())
    assert len(references) > 40
    missing = [
        f"{path}::{name}"
        for path, name in references
        if not (ROOT / path).exists() or name not in _test_names(ROOT / path)
    ]
    assert missing == []
