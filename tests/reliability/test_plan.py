"""The plan registry (`plan.py`) stays true: every row of RELIABILITY.md §6 is listed, every node id
it names exists, and the rows still to cover are shown (an expected failure that never fails CI)."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

from .plan import PARTIAL, PLAN

ROOT = Path(__file__).resolve().parents[2]


@cache
def _functions(path: str) -> frozenset[str]:
    """The test functions a file defines (read with `ast`: importing every test module here would
    run their module-level set-up twice)."""
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return frozenset(node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef))


def test_every_row_of_the_plan_is_listed() -> None:
    assert sorted(PLAN) == list(range(1, 59))
    assert set(PARTIAL) <= set(PLAN)


def test_every_listed_test_exists() -> None:
    missing = []
    for row, node_ids in PLAN.items():
        for node_id in node_ids:
            path, _, name = node_id.partition("::")
            if not (ROOT / path).is_file() or name.split("[")[0] not in _functions(path):
                missing.append((row, node_id))
    assert not missing


def test_reliability_tests_are_named_after_their_row() -> None:
    here = Path(__file__).parent
    for path in here.glob("test_*.py"):
        for name in _functions(str(path.relative_to(ROOT))):
            if name.startswith("test_r") and name[6:8].isdigit():
                row = int(name[6:8])
                listed = [n for n in PLAN[row] if n.split("::")[1] == name]
                assert listed, f"{name} is not listed under row {row} in plan.py"


def test_every_row_of_the_plan_is_covered() -> None:
    uncovered = [row for row, ids in PLAN.items() if not ids]
    partial = sorted(PARTIAL)
    assert not uncovered and not partial, f"uncovered: {uncovered}; in part: {partial}"
