"""Publishing a bundle: read the warehouse, assemble, write the generation, flip `current`, prune."""

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from platform_assets.features.config import FeatureConfig
from platform_assets.modeling.combination import Combination
from platform_assets.serving.bundle import flip_current, generation_name, prune, write_bundle
from platform_assets.serving.champion import Champion
from platform_assets.serving.layout import serving_root
from platform_assets.serving.snapshot import Check, make_bundle
from platform_assets.serving.sources import read_forecasting_state, read_profiles
from platform_assets.storage.warehouse import Warehouse


@dataclass(frozen=True)
class Published:
    generation: str
    path: Path
    check: Check
    rows: dict[str, int]
    pruned: list[str]


def publish_bundle(
    warehouse: Warehouse,
    home: Path,
    model: Combination,
    champion: Champion,
    factors: dict[str, int | None],
    cfg: FeatureConfig,
    run_id: str,
    keep: int,
    reference_periods: int,
) -> Published:
    """Write the next bundle under `$home/serving`, make it current and prune the old ones."""
    created_at = datetime.now(UTC)
    generation = generation_name(created_at, run_id)
    frames = read_forecasting_state(warehouse, cfg)
    numeric = [n for n in model.forecaster.feature_names if n not in model.forecaster.categorical_names]
    profiles = read_profiles(warehouse, cfg, numeric, reference_periods)
    content, check = make_bundle(frames, profiles, model, champion, factors, cfg, generation, created_at)
    root = serving_root(home)
    path = write_bundle(root, generation, content)
    flip_current(root, generation)
    rows = {name: frame.height for name, frame in content.frames.items() if isinstance(frame, pl.DataFrame)}
    return Published(generation, path, check, rows, prune(root, keep))
