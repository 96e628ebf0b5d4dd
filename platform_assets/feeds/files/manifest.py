"""The landing manifest: each observation file's first and last usable date under its fingerprint, kept
as JSON beside the warehouse ($SHELFCAST_HOME/landing_manifest.json).

The monthly ingest partitions are defined when the code location loads, before any run has read the
landing zone, and must start at its first month. The manifest keeps that cheap: a load stats the files
and reads the date column of only those new or changed since the manifest was written.
"""

import json
import os
from datetime import date
from pathlib import Path

from platform_assets.feeds.files.layout import fingerprints, observation_paths
from platform_assets.feeds.files.reading import first_line, usable_dates

MANIFEST_NAME = "landing_manifest.json"


def date_spans(root: Path, manifest: Path) -> dict[str, dict]:
    """Per observation file (absolute path): its fingerprint, first and last usable date (None, with
    `error`, when it has none). Files unchanged since `manifest` was written are not read; the manifest
    is rewritten when anything changed (best effort: a read-only home still gets the answer)."""
    known = _read(manifest)
    spans = {}
    for file in fingerprints(observation_paths(root)):
        key, stamp = str(file.path.resolve()), f"{file.size}:{file.mtime_ns}"
        entry = known.get(key)
        fresh = isinstance(entry, dict) and entry.get("fingerprint") == stamp
        spans[key] = entry if fresh else {"fingerprint": stamp, **_span(file.path)}
    if spans != known:
        _write(manifest, spans)
    return spans


def landing_start(root: Path, manifest: Path) -> date | None:
    """The first usable date of any observation file in `root`; None when no file has one."""
    firsts = [span["first"] for span in date_spans(root, manifest).values() if span["first"]]
    return date.fromisoformat(min(firsts)) if firsts else None


def _span(path: Path) -> dict:
    try:
        days = usable_dates(path)
    except Exception as err:  # polars raises many error types for corrupt input; all mean the same here
        return {"first": None, "last": None, "error": first_line(err)}
    if days.is_empty():
        return {"first": None, "last": None, "error": "no row has a usable date"}
    return {"first": days.min().isoformat(), "last": days.max().isoformat()}


def _read(manifest: Path) -> dict[str, dict]:
    """The manifest's entries; none when it is missing or unreadable (every file is then read again)."""
    try:
        entries = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}


def _write(manifest: Path, spans: dict[str, dict]) -> None:
    """Replace the manifest atomically: a code server and run workers may load at the same time."""
    try:
        manifest.parent.mkdir(parents=True, exist_ok=True)
        staging = manifest.with_name(f"{manifest.name}.{os.getpid()}.tmp")
        staging.write_text(json.dumps(spans, indent=1, sort_keys=True))
        os.replace(staging, manifest)
    except OSError:
        pass  # the answer stands; the next load reads the changed files again
