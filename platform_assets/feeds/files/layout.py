"""The landing directory: which files the files feed reads, how a change to one is noticed, and where a
file that cannot be read is set aside."""

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from platform_assets.feeds.base import UnreadableFile

OBSERVATION_FORMATS = (".csv", ".parquet", ".jsonl")
TABLE_FORMATS = (".csv", ".parquet")


class Fingerprint(NamedTuple):
    """A file as one stat saw it: rewriting the file changes its size or mtime, so anything read from
    it under an older fingerprint is stale."""

    path: Path
    size: int
    mtime_ns: int


def fingerprints(paths: Iterable[Path]) -> tuple[Fingerprint, ...]:
    """The fingerprints of the files still present (one may be set aside between listing and stat)."""
    found = []
    for path in paths:
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        found.append(Fingerprint(path, stat.st_size, stat.st_mtime_ns))
    return tuple(found)


def table_paths(root: Path, stem: str) -> list[Path]:
    """`stem`.csv and `stem`.parquet, those present, in that order."""
    return [p for ext in TABLE_FORMATS if (p := root / f"{stem}{ext}").is_file()]


def observation_paths(root: Path) -> list[Path]:
    """The observation files, sorted by name: the order that decides which of two duplicates is kept."""
    folder = root / "observations"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in OBSERVATION_FORMATS and p.is_file())


def landing_files(root: Path) -> list[Path]:
    """Every file the feed reads: products.*, suppliers.*, events.* and observations/*, sorted."""
    tables = [p for stem in ("products", "suppliers", "events") for p in table_paths(root, stem)]
    return sorted([*tables, *observation_paths(root)])


def set_aside(path: Path, quarantine: Path, error: str) -> UnreadableFile:
    """Move a file the feed cannot read to the quarantine, with a report next to it."""
    quarantine.mkdir(parents=True, exist_ok=True)
    target, n = quarantine / path.name, 0
    while target.exists():  # never overwrite an earlier quarantined file of the same name
        n += 1
        target = quarantine / f"{path.stem}.{n}{path.suffix}"
    shutil.move(path, target)
    target.with_name(f"{target.name}.report.txt").write_text(
        f"file: {path}\nerror: {error}\n"
        "Nothing was ingested from this file. Fix it and put it back in the landing directory.\n"
    )
    return UnreadableFile(path=str(path), moved_to=str(target), error=error)
