"""The layout by concern holds: each folder imports only the folders docs/architecture.md allows,
so logic never reaches up into Dagster wiring and no two concerns depend on each other."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "platform" / "dataflywheel"
LEAVES = {"settings"}  # paths and knobs: anyone may read them
ALLOWED = {
    "contracts": set(),
    "warehouse": set(),
    "dbt_project": set(),
    "ingest": {"contracts", "warehouse"},
    "features": {"contracts", "warehouse"},
    "ranking": {"contracts", "features"},
    "lifecycle": {"ranking"},
    "monitoring": {"contracts", "features", "ranking", "lifecycle", "warehouse"},
    "simulator": {"contracts", "ingest", "ranking"},  # ranking: its off-policy estimators, checked against the truth
    "serving": {"contracts", "ingest", "warehouse", "features", "ranking", "lifecycle"},
}


def imported_folders(folder: str) -> dict[str, str]:
    """Our top-level folders that ``folder`` imports, each with one module that does."""
    found = {}
    paths = [PACKAGE / f"{folder}.py"] if (PACKAGE / f"{folder}.py").exists() else (PACKAGE / folder).rglob("*.py")
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dataflywheel"):
                parts = node.module.split(".")
                for target in [parts[1]] if len(parts) > 1 else [alias.name for alias in node.names]:
                    if target != folder:
                        found.setdefault(target, str(path.relative_to(PACKAGE)))
    return found


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_a_folder_imports_only_what_it_may(folder):
    extra = {t: where for t, where in imported_folders(folder).items() if t not in ALLOWED[folder] | LEAVES}
    assert not extra, f"{folder} imports {extra}"


def imported_modules(folder: str) -> dict[str, str]:
    """Every module the logic folder ``folder`` imports, each with one file that does."""
    found = {}
    for path in (PACKAGE / folder).rglob("*.py") if (PACKAGE / folder).is_dir() else []:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                found.setdefault(name, str(path.relative_to(PACKAGE)))
    return found


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_no_logic_imports_dagster(folder):
    dagster = {m: where for m, where in imported_modules(folder).items() if m.split(".")[0] == "dagster"}
    assert not dagster, f"{folder} imports {dagster}"


@pytest.mark.parametrize("folder", sorted(set(ALLOWED) - {"warehouse"}))
def test_only_the_warehouse_speaks_duckdb(folder):
    """Logic reaches the warehouse through ``warehouse.engine.Engine``; DuckDB's dialect lives in
    ``warehouse/duckdb.py`` alone, so a second engine needs no change here."""
    duckdb = {
        m: where
        for m, where in imported_modules(folder).items()
        if m.split(".")[0] == "duckdb" or m.startswith("dataflywheel.warehouse.duckdb")
    }
    assert not duckdb, f"{folder} imports {duckdb}"
