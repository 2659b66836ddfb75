"""The walls between the packages (CONTRIBUTING.md), read from the source: the engine knows no UI and no
database, the store knows no UI, library code logs instead of printing, and paths come from one place."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from vadcore.settings import PROJECT_ROOT

FORBIDDEN_IMPORTS = {
    "vadcore": {"streamlit", "sqlalchemy", "alembic", "db", "ui"},
    "db": {"streamlit", "ui"},
}


def python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (PROJECT_ROOT / folder).rglob("*.py"))


def imported_packages(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN_IMPORTS))
def test_a_package_imports_nothing_beyond_its_wall(package: str):
    crossings = {
        str(path.relative_to(PROJECT_ROOT)): sorted(imported_packages(ast.parse(path.read_text())) & forbidden)
        for path in python_files(package)
        if (forbidden := FORBIDDEN_IMPORTS[package])
    }
    assert {file: names for file, names in crossings.items() if names} == {}


def test_library_code_logs_instead_of_printing():
    printing = [
        f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}"
        for path in python_files("vadcore", "db", "ui", "pages")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"
    ]
    assert printing == []


def test_nothing_edits_the_import_path_or_locates_the_project_itself():
    """The project is installed (editable), so no `sys.path` edits; `vadcore/settings.py` alone computes
    the project root and the shared-data default."""
    here = Path(__file__).resolve()
    allowed = {PROJECT_ROOT / "vadcore" / "settings.py", here, here.with_name("test_settings.py")}
    needles = ("sys.path.insert", "sys.path.append", "parent.parent", ".parents[", '"shared"')
    offenders = [
        f"{path.relative_to(PROJECT_ROOT)}: {needle}"
        for path in python_files("vadcore", "db", "ui", "pages", "scripts", "tests") + [PROJECT_ROOT / "app.py"]
        if path not in allowed
        for needle in needles
        if needle in path.read_text()
    ]
    assert offenders == []
