"""The tests of corrections in Stripe share one setup (`tests/integration/stripe_desk.py`):
none of them defines its own `Desk`, `FAST` or `PERIOD` again, so a change to how a desk is
built (engine timing, staff, the period) is made once."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

INTEGRATION = Path(__file__).parents[1] / "integration"
SHARED = ("Desk", "FAST", "PERIOD")


def top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def imported_from(tree: ast.Module, module: str) -> set[str]:
    return {
        alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module == module
        for alias in node.names
    }


@pytest.mark.parametrize(
    "name", ["test_corrections_stripe.py", "test_wiring_corrections.py", "test_stripe_preview.py"]
)
def test_the_desk_is_built_in_one_place(name: str) -> None:
    tree = ast.parse((INTEGRATION / name).read_text())
    assert top_level_names(tree).isdisjoint(SHARED)
    assert "Desk" in imported_from(tree, "tests.integration.stripe_desk")


def test_the_support_module_defines_them() -> None:
    tree = ast.parse((INTEGRATION / "stripe_desk.py").read_text())
    assert set(SHARED) <= top_level_names(tree)
