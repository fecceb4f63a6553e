"""The package reads nothing outside itself: no path is built from a module's __file__ that
climbs out of src/racecramp, and the CLI's flows and dashboard are modules of the package."""

from __future__ import annotations

import ast
from pathlib import Path

import racecramp

PACKAGE = Path(racecramp.__file__).resolve().parent


def _levels_up(node: ast.AST) -> int | None:
    """How many folders above the file's own folder an expression built on __file__ climbs
    (Path(__file__).parent = 0, .parent.parent = 1, .parents[2] = 2); None when it does not use __file__."""
    uses_file = any(isinstance(n, ast.Name) and n.id == "__file__" for n in ast.walk(node))
    if not uses_file:
        return None
    parents = 0
    for n in ast.walk(node):
        if isinstance(n, ast.Attribute) and n.attr == "parent":
            parents += 1
        if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Attribute) and n.value.attr == "parents":
            index = n.slice
            parents += (index.value + 1) if isinstance(index, ast.Constant) and isinstance(index.value, int) else 99
    return max(parents - 1, 0)


def test_no_module_builds_a_path_from_its_file_outside_the_package():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        depth = len(path.relative_to(PACKAGE).parts) - 1  # folders between the package root and the file
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, (ast.Assign, ast.Expr, ast.Return, ast.Call)):
                levels = _levels_up(node)
                if levels is not None and levels > depth:
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []


def test_the_climb_counter_sees_a_path_out_of_the_package():
    assert _levels_up(ast.parse("Path(__file__).resolve().parents[2] / 'data'")) == 2
    assert _levels_up(ast.parse("Path(__file__).parent / 'app.py'")) == 0
    assert _levels_up(ast.parse("Path('x').parent")) is None


def test_flows_dashboard_and_data_ship_inside_the_package():
    from racecramp.data import data_dir
    from racecramp.orchestration import deployments, season_flow
    from racecramp.orchestration.supervisor import dashboard_entry

    for module in (deployments, season_flow):
        assert Path(module.__file__).resolve().is_relative_to(PACKAGE)
    assert dashboard_entry().resolve().is_relative_to(PACKAGE) and dashboard_entry().exists()
    assert (data_dir() / "races" / "boston-2017.toml").exists() and data_dir().resolve().is_relative_to(PACKAGE)
