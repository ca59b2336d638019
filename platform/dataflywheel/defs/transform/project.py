"""The dbt project, prepared once per process: its manifest is what Dagster reads at import."""

import subprocess
import sys
from functools import cache
from pathlib import Path

from dagster_dbt import DbtProject

from ... import settings

# dbt is installed beside this interpreter; entry points need not have the venv on PATH.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")


@cache
def dbt_project() -> DbtProject:
    settings.configure_environment()
    project = DbtProject(project_dir=settings.DBT_PROJECT_DIR, target_path=settings.dbt_target_path())
    if not project.manifest_path.exists():
        # `dbt parse` writes the manifest @dbt_assets needs; setup and CI run it too.
        subprocess.run(
            [DBT_EXECUTABLE, "parse", "--quiet", "--target-path", str(project.target_path)],
            cwd=settings.DBT_PROJECT_DIR,
            check=True,
        )
    return project
