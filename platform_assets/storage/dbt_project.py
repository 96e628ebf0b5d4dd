"""The dbt project, in its own module so `dagster-dbt project prepare-and-package` can build the
manifest before the definitions load."""

import re
import shutil
from pathlib import Path

from dagster_dbt import DbtProject

import platform_assets

DBT_PROJECT_DIR = Path(platform_assets.__file__).resolve().parent.parent / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target="duckdb")
dbt_project.prepare_if_dev()

# dagster-dbt gives every invocation its own target folder, `<op>-<run id[:7]>-<uuid[:7]>`, and never
# removes one (about 2 MB each, two per run): the newest few are kept for debugging, the rest pruned.
INVOCATION_DIR = re.compile(r"^.+-[0-9a-f]{7}-[0-9a-f]{7}$")
TARGETS_KEPT = 4


def prune_invocation_targets(target_dir: Path, keep: int = TARGETS_KEPT) -> list[Path]:
    """Remove all but the `keep` newest invocation folders under `target_dir` (the manifest, partial
    parse file and anything else dbt keeps there stay); return the removed ones."""
    if not target_dir.is_dir():
        return []
    folders = [p for p in target_dir.iterdir() if p.is_dir() and INVOCATION_DIR.match(p.name)]
    folders.sort(key=lambda p: (p.stat().st_mtime_ns, p.name), reverse=True)
    for old in folders[keep:]:
        shutil.rmtree(old, ignore_errors=True)  # a concurrent prune may have removed it already
    return folders[keep:]
