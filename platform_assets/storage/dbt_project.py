"""The dbt project, in its own module so `dagster-dbt project prepare-and-package` can build the
manifest before the definitions load."""

import re
import shutil
import uuid
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


PARTIAL_PARSE = "partial_parse.msgpack"


def invocation_target(target_dir: Path, op: str, run_id: str) -> Path:
    """A new invocation folder, named the way dagster-dbt names its own (`<op>-<run id[:7]>-<uuid[:7]>`)."""
    return target_dir / f"{op}-{run_id[:7]}-{uuid.uuid4().hex[:7]}"


def reuse_run_parse(target: Path) -> Path | None:
    """Seed the invocation folder `target` with the parse an earlier dbt step of the same run left (same
    vars, same profile), so dbt reads the project from it instead of parsing it again: about half of a
    small step's `dbt build`. dagster-dbt seeds only from target/, parsed with other vars and profile,
    which dbt discards. Returns the file reused, or None (the run's first step, or it was pruned)."""
    if not target.parent.is_dir():
        return None
    run = target.name.rsplit("-", 2)[1]
    earlier = [
        p / PARTIAL_PARSE
        for p in target.parent.iterdir()
        if p != target and INVOCATION_DIR.match(p.name) and p.name.rsplit("-", 2)[1] == run
    ]
    for parse in sorted(earlier, key=_mtime, reverse=True):
        try:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(parse, target / PARTIAL_PARSE)
            return parse
        except OSError:  # absent (that step failed before parsing), or pruned by a concurrent run
            continue
    return None


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0
