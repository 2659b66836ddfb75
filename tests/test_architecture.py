"""The walls between the packages (CONTRIBUTING.md), read from the source: the engine knows no UI and no
database, the store knows no UI, the UI holds no computation and no tables, library code logs instead of
printing, and paths come from one place."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from vadcore.settings import PROJECT_ROOT

FORBIDDEN_IMPORTS = {
    "vadcore": {"streamlit", "sqlalchemy", "alembic", "db", "ui"},
    "db": {"streamlit", "ui"},
}


# Pages and ui modules draw: models, estimators and tables stay behind vadcore's and the service's calls.
# Modules named here by their full dotted name are forbidden with everything under them.
UI_FORBIDDEN = {"torch", "torchvision", "sklearn", "scipy", "sqlalchemy", "alembic", "db.models"}
# The two pages that once computed inside the page (issue 10) may not even reach for numpy.
DRAWING_ONLY_PAGES = {"pages/timelines.py": UI_FORBIDDEN | {"numpy"}, "pages/outcomes.py": UI_FORBIDDEN | {"numpy"}}


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


def imported_modules(tree: ast.AST) -> set[str]:
    """Every module a file imports by absolute name, in full (`from db.models import X` gives db.models)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # `from db import models`
    return names


def crosses(module: str, forbidden: set[str]) -> bool:
    return any(module == f or module.startswith(f"{f}.") for f in forbidden)


def test_pages_and_ui_import_no_models_estimators_or_tables():
    rules = {str(path.relative_to(PROJECT_ROOT)): UI_FORBIDDEN for path in python_files("pages", "ui")}
    rules.update(DRAWING_ONLY_PAGES)
    rules["main.py"] = rules["app.py"] = UI_FORBIDDEN
    crossings = {
        file: sorted(m for m in imported_modules(ast.parse((PROJECT_ROOT / file).read_text())) if crosses(m, forbidden))
        for file, forbidden in rules.items()
    }
    assert {file: names for file, names in crossings.items() if names} == {}


def test_the_import_check_sees_every_form_of_import():
    tree = ast.parse("import sklearn.linear_model\nfrom db import models\nfrom db.models import User\nimport dbx")
    found = {m for m in imported_modules(tree) if crosses(m, UI_FORBIDDEN)}
    assert found == {"sklearn.linear_model", "db.models", "db.models.User"}


def test_importing_the_figures_loads_neither_torch_nor_scikit_learn():
    """In a fresh interpreter: `ui.figures` (with the `ui` package it lives in) draws without the model or the
    estimators."""
    probe = "import sys, ui.figures; print(sorted({'torch', 'sklearn', 'scipy'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=True
    )
    assert result.stdout.strip() == "[]"


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
        for path in python_files("vadcore", "db", "ui", "pages", "scripts", "tests")
        + [PROJECT_ROOT / "main.py", PROJECT_ROOT / "app.py"]
        if path not in allowed
        for needle in needles
        if needle in path.read_text()
    ]
    assert offenders == []
