"""docs/architecture.md shows the import graph as the code has it: redrawn, it is the same."""

import re
import runpy
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _drawn():
    script = ROOT / "scripts" / "import-graph"
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True).stdout


def test_the_documented_import_graph_is_the_codes():
    drawn = _drawn()
    doc = (ROOT / "docs" / "architecture.md").read_text()
    shown = re.search(r"<!-- import-graph -->\n```mermaid\n(.*?)```\n<!-- /import-graph -->", doc, re.S)
    assert shown is not None, "the graph's markers are missing from docs/architecture.md"
    assert shown.group(1) == drawn, "run scripts/import-graph --write"


def test_every_arrow_points_down_the_layers():
    order = runpy.run_path(str(ROOT / "scripts" / "import-graph"))["order"]()
    drawn = _drawn()
    names = dict(re.findall(r'^    (\w+)\["([^"]+)"\]$', drawn, re.M))
    arrows = re.findall(r"^    (\w+) --> (\w+)$", drawn, re.M)
    assert arrows and set(names.values()) <= set(order)
    upward = [(names[a], names[b]) for a, b in arrows if order.index(names[a]) >= order.index(names[b])]
    assert upward == []
