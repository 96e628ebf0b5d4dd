"""A serving bundle's content from what the warehouse holds (sources.py), the champion and its
evidence: the newest forecasts with each series' category; the inputs of a future-rows rebuild
(features/rebuild.py) and the newest actuals the origin features read; per-series, per-category and
per-feature reference profiles; a manifest saying what the bundle is and whether a what-if reproduces
the batch."""

from datetime import datetime

import polars as pl

from platform_assets.core.keys import KEYS
from platform_assets.core.levels import band_columns, levels_in
from platform_assets.features.config import FeatureConfig
from platform_assets.features.rebuild import Check, check_rebuild, feature_inputs
from platform_assets.modeling.combination import Combination
from platform_assets.serving.bundle import BundleContent
from platform_assets.serving.champion import Champion
from platform_assets.serving.codec import combination_to_json
from platform_assets.serving.profile import feature_profile
from platform_assets.serving.reference import fit_distance, monitored_inputs, reference_bins

FORMAT_VERSION = 3  # 3: the bundle carries the events and the holidays setting


def served_forecasts(forecasts: pl.DataFrame, series: pl.DataFrame) -> pl.DataFrame:
    """forecasts_latest with each series' category (lookups filter by it), sorted by series and step;
    without the quantiles of a level the generation was not made with (null throughout: the table
    keeps the columns of every level it ever had)."""
    category = series.select(*KEYS, "category")
    band = band_columns(levels_in(forecasts.columns))
    unmade = [c for c in band if forecasts.height and forecasts[c].null_count() == forecasts.height]
    return forecasts.drop(unmade).join(category, on=KEYS, how="left").sort([*KEYS, "horizon"])


def make_bundle(
    frames: dict[str, pl.DataFrame],
    profiles: dict[str, pl.DataFrame],
    model: Combination,
    champion: Champion,
    factors: dict[str, int | None],
    cfg: FeatureConfig,
    generation: str,
    created_at: datetime,
) -> tuple[BundleContent, Check]:
    forecasts = frames["forecasts"]
    if forecasts.is_empty():
        raise ValueError("marts.forecasts_latest is empty: materialize forecasts first")
    made_by = forecasts["model_version"].unique().to_list()
    if made_by != [champion.version]:
        raise ValueError(
            f"forecasts_latest was made by model version(s) {made_by}, the champion is "
            f"v{champion.version}: materialize forecasts again before the bundle"
        )
    inputs = feature_inputs(frames, factors, cfg)
    check = check_rebuild(inputs, frames["inference"])
    reference = profiles["reference"]
    # What served requests are compared with: the training rows of the series the model forecasts
    # (a what-if moves only those; inactive and fallback series would look like drift).
    modelled = forecasts.filter(pl.col("method") == "model").select(KEYS).unique()
    served = reference.join(modelled, on=KEYS, how="semi") if not modelled.is_empty() else reference
    lgbm = model.forecaster
    numeric = [n for n in lgbm.feature_names if n in reference.columns and n not in lgbm.categorical_names]
    content = {
        **frames,
        "forecasts": served_forecasts(forecasts, frames["series"]),
        "series_profile": profiles["series_profile"],
        "category_profile": profiles["category_profile"],
        "feature_profile": feature_profile(reference, numeric),
        "reference_bins": reference_bins(served, monitored_inputs(numeric), cfg.horizon),
    }
    dates = sorted(forecasts["target_date"].unique().to_list())
    manifest = {
        "format_version": FORMAT_VERSION,
        "generation": generation,
        "created_at": created_at.isoformat(),
        "forecast_generation_id": forecasts["generation_id"][0],
        "forecasts_generated_at": forecasts["generated_at"].min().isoformat(),
        "champion": champion.as_json(),
        "features": {
            "target": cfg.target,
            "horizon": cfg.horizon,
            "freq": cfg.freq,
            "holidays": cfg.holidays,
            "factors": factors,
            "target_dates": [d.isoformat() for d in dates],
        },
        "series": {"known": frames["series"].height, "forecast": forecasts.select(KEYS).n_unique()},
        "what_if": {"available": check.exact, "reason": check.reason},
        "input_distance": fit_distance(served, monitored_inputs(numeric)).as_json(),
    }
    return BundleContent(content, combination_to_json(model), manifest), check
