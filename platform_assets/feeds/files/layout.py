"""The landing directory: which files the files feed reads, how a change to one is noticed, and where a
file that cannot be read is set aside."""

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from platform_assets.feeds.base import IgnoredFile, UnreadableFile

OBSERVATION_FORMATS = (".csv", ".parquet", ".jsonl")
TABLE_FORMATS = (".csv", ".parquet")
TABLES = ("products", "suppliers", "events")  # the tables beside observations/ (events optional)


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


def inside(root: Path, path: Path) -> bool:
    """Whether `path` (a symlink resolved) stays in the landing directory: a link out of it could make
    the feed read, and copy into rejected rows, any file the process can read."""
    return path.resolve().is_relative_to(root.resolve())


def table_paths(root: Path, stem: str) -> list[Path]:
    """`stem`.csv and `stem`.parquet, those present (and inside the landing directory), in that order."""
    return [p for ext in TABLE_FORMATS if (p := root / f"{stem}{ext}").is_file() and inside(root, p)]


def observation_paths(root: Path) -> list[Path]:
    """The observation files, sorted by name: the order that decides which of two duplicates is kept."""
    folder = root / "observations"
    if not folder.is_dir() or not inside(root, folder):
        return []
    return sorted(p for p in folder.iterdir() if _skip_reason(root, p, OBSERVATION_FORMATS) is None)


def ignored_files(root: Path) -> tuple[IgnoredFile, ...]:
    """Every entry of the landing directory (and of observations/) the feed does not read, with why."""
    known = {f"{stem}{ext}" for stem in TABLES for ext in TABLE_FORMATS}
    found = []
    for entry in sorted(root.iterdir()):
        if entry.name == "observations" and entry.is_dir():
            why = None if inside(root, entry) else "a symlink to outside the landing directory: refused"
        elif entry.name in known:
            why = _skip_reason(root, entry, TABLE_FORMATS)
        else:
            why = "not part of the landing contract (products.*, suppliers.*, events.*, observations/)"
        if why is not None:
            found.append(IgnoredFile(entry.name, why))
    folder = root / "observations"
    if folder.is_dir() and inside(root, folder):
        for entry in sorted(folder.iterdir()):
            if (why := _skip_reason(root, entry, OBSERVATION_FORMATS)) is not None:
                found.append(IgnoredFile(entry.relative_to(root).as_posix(), why))
    return tuple(found)


def _skip_reason(root: Path, path: Path, formats: tuple[str, ...]) -> str | None:
    """Why the feed does not read `path`, or None when it does."""
    if path.is_symlink() and not inside(root, path):
        return "a symlink to outside the landing directory: refused"
    if path.is_dir():
        return "a folder: only files directly in observations/ are read"
    if path.name.startswith((".", "~")):
        return "a hidden or temporary file"
    if path.suffix.lower() not in formats:
        return f"unsupported file type {''.join(path.suffixes) or '(none)'!r} (read: {', '.join(formats)})"
    if not path.is_file():
        return "not a regular file"
    return None


def landing_files(root: Path) -> list[Path]:
    """Every file the feed reads: products.*, suppliers.*, events.* and observations/*, sorted."""
    tables = [p for stem in TABLES for p in table_paths(root, stem)]
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
