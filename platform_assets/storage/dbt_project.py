"""The dbt project, in its own module so `dagster-dbt project prepare-and-package` can build the
manifest before the definitions load."""

from pathlib import Path

from dagster_dbt import DbtProject

import platform_assets

DBT_PROJECT_DIR = Path(platform_assets.__file__).resolve().parent.parent / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target="duckdb")
dbt_project.prepare_if_dev()
