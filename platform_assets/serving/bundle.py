"""A serving bundle on disk: one immutable directory per generation (Parquet frames, the model and a
manifest) and a `current` pointer naming the one to serve.

A bundle is written under a partial name and renamed into place, and `current` is replaced with
`os.replace`: a reader sees the previous bundle or the next one, never a mix or half a file. Pruning
keeps the newest bundles and never the one `current` names, whatever its age.
"""

import json
import os
import re
import shutil
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl

from platform_assets.serving.layout import CURRENT, PARTIAL_PREFIX

MANIFEST = "manifest.json"
MODEL = "model.json"
# What the API needs, one Parquet file each (snapshot.py says what each holds).
FRAMES = (
    "forecasts",
    "inference",
    "sales",
    "carry",
    "plans",
    "products",
    "series",
    "events",
    "history",
    "series_profile",
    "category_profile",
    "feature_profile",
    "reference_bins",
)
GENERATION = re.compile(r"^\d{8}T\d{12}Z-[0-9A-Za-z]+$")
READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


@dataclass(frozen=True)
class BundleContent:
    frames: dict[str, pl.DataFrame]
    model: dict
    manifest: dict


def generation_name(at: datetime, run_id: str) -> str:
    """Sortable by time (microseconds), unique per run: `20261130T053000123456Z-6981f875`."""
    return f"{at:%Y%m%dT%H%M%S%f}Z-{run_id.replace('-', '')[:8]}"


def _write_file(path: Path, write) -> None:
    with open(path, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    path.chmod(READ_ONLY)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bundle(root: Path, generation: str, content: BundleContent) -> Path:
    """Write `content` as bundle `generation` under `root` (partial directory, then one rename)."""
    if set(content.frames) != set(FRAMES):
        raise ValueError(f"a bundle holds exactly {FRAMES}, got {sorted(content.frames)}")
    final, partial = root / generation, root / f"{PARTIAL_PREFIX}{generation}"
    if final.exists():
        raise FileExistsError(f"bundle {generation} exists: bundles are immutable")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for name, frame in content.frames.items():
        _write_file(partial / f"{name}.parquet", frame.write_parquet)
    for name, data in ((MODEL, content.model), (MANIFEST, content.manifest)):
        _write_file(partial / name, lambda h, d=data: h.write(json.dumps(d, sort_keys=True).encode()))
    _fsync_dir(partial)
    partial.rename(final)
    _fsync_dir(root)
    return final


def flip_current(root: Path, generation: str) -> None:
    """Point `current` at `generation` atomically (the API polls it and swaps bundles)."""
    if not GENERATION.match(generation) or not (root / generation).is_dir():
        raise FileNotFoundError(f"no bundle {generation} under {root}")
    temporary = root / f".{CURRENT}.{os.getpid()}"
    _write_file(temporary, lambda h: h.write(generation.encode()))
    os.replace(temporary, root / CURRENT)
    _fsync_dir(root)


def current_generation(root: Path) -> str | None:
    try:
        name = (root / CURRENT).read_text().strip()
    except FileNotFoundError:
        return None
    return name if GENERATION.match(name) else None


def read_bundle(root: Path, generation: str) -> BundleContent:
    folder = root / generation
    frames = {name: pl.read_parquet(folder / f"{name}.parquet") for name in FRAMES}
    model, manifest = (json.loads((folder / name).read_text()) for name in (MODEL, MANIFEST))
    return BundleContent(frames, model, manifest)


def generations(root: Path) -> list[str]:
    """Complete bundles under `root`, oldest first."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and GENERATION.match(p.name))


def prune(root: Path, keep: int) -> list[str]:
    """Delete all but the `keep` newest bundles (at least one), never the current one; returns the
    deleted generations. A reader holding a pruned bundle has it in memory already (api/store.py)."""
    current = current_generation(root)
    old = [g for g in generations(root)[: -max(keep, 1)] if g != current]
    for generation in old:
        shutil.rmtree(root / generation)
    return old
