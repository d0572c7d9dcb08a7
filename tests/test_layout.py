"""The layout's arrows: pos_adapters -> redemptions -> promotions -> core, and config on top.

Read from the source (every import statement, lazy ones inside functions included), so an
arrow that runs back up fails here before anyone has to notice it in review.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAY_IMPORT = {
    "core": set(),
    "promotions": {"core"},
    "redemptions": {"core", "promotions"},
    "pos_adapters": {"core", "promotions", "redemptions"},
}
PROJECT = {"config", *MAY_IMPORT}


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & PROJECT


def modules_of(package: str):
    return [p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts]


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_imports_point_one_way(package):
    wrong = {
        str(path.relative_to(ROOT)): sorted(
            imported_packages(path) - MAY_IMPORT[package] - {package}
        )
        for path in modules_of(package)
    }
    assert {path: names for path, names in wrong.items() if names} == {}


def test_vendor_adapters_translate_only():
    """An adapter never touches the database: no models, no connection, no services."""
    for path in (ROOT / "pos_adapters" / "vendors").glob("*.py"):
        tree = ast.parse(path.read_text())
        modules = {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        } | {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        touching = {
            m for m in modules if m.startswith("django.db") or m.endswith((".models", ".services"))
        }
        assert touching == set(), f"{path.name} imports {touching}"


def test_no_app_module_grows_past_400_lines():
    long = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for package in MAY_IMPORT
        for path in modules_of(package)
    }
    assert {path: n for path, n in long.items() if n > 400} == {}
