"""Our modules import each other at the top. An import inside a function hides a dependency from
the layer check (docs/architecture.md) and usually papers over a cycle; only AppConfig.ready,
which runs once the apps are loaded, may import inside a function."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = {"fraudsite", "core", "accounts", "api", "transactions", "detection", "demo"}


def _imports_inside_functions():
    for package in sorted(OURS):
        for path in sorted((ROOT / package).rglob("*.py")):
            if "tests" in path.parts or "migrations" in path.parts:
                continue
            for function in ast.walk(ast.parse(path.read_text())):
                if (
                    not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
                    or function.name == "ready"
                ):
                    continue
                for node in ast.walk(function):
                    if isinstance(node, ast.ImportFrom) and node.module:
                        names = [node.module]
                    elif isinstance(node, ast.Import):
                        names = [alias.name for alias in node.names]
                    else:
                        continue
                    for name in names:
                        if name.split(".")[0] in OURS:
                            yield f"{path.relative_to(ROOT)}:{node.lineno} imports {name} inside {function.name}()"


def test_our_modules_are_imported_at_the_top():
    assert list(_imports_inside_functions()) == []
