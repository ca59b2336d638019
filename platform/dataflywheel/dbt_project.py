"""The dbt project: where it is, how dbt runs, and its manifest, which Dagster reads when the definitions load.

Building the manifest (`dbt parse`) is set-up work (`make setup`, the test session), never
a side effect of importing the definitions.
"""

import subprocess
import sys
from functools import cache
from pathlib import Path

from dagster_dbt import DbtProject

from dataflywheel import settings

# dbt is installed beside this interpreter; entry points need not have the venv on PATH.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")


@cache
def dbt_project() -> DbtProject:
    project = DbtProject(project_dir=settings.DBT_PROJECT_DIR, target_path=settings.current().dbt_target_path)
    if not project.manifest_path.exists():
        raise FileNotFoundError(f"No dbt manifest at {project.manifest_path}: run `make setup` (dbt parse) first.")
    return project


def parse_manifest() -> Path:
    """Write the manifest @dbt_assets needs (``dbt parse``) into the home's dbt target folder."""
    target = settings.current().dbt_target_path
    with settings.dbt_environment():
        subprocess.run(
            [DBT_EXECUTABLE, "parse", "--quiet", "--target-path", str(target)], cwd=settings.DBT_PROJECT_DIR, check=True
        )
    return target / "manifest.json"
