"""A bundle loaded for serving: its frames in memory with the indexes lookups use, the champion
rebuilt from JSON and the feature settings. Read-only once built, so any number of requests share it,
and a request keeps the one it started with while the API swaps in the next (api/store.py)."""

import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

from platform_assets.core.keys import KEYS
from platform_assets.features.config import FeatureConfig
from platform_assets.features.rebuild import FeatureInputs, feature_inputs
from platform_assets.modeling.combination import Combination, Local
from platform_assets.modeling.forecasting import model_series
from platform_assets.serving.bundle import read_bundle
from platform_assets.serving.codec import combination_from_json
from platform_assets.serving.outliers import Profiles
from platform_assets.serving.reference import InputDistance, load_bins
from platform_assets.serving.snapshot import FORMAT_VERSION

# What the JSON answers of one-series lookups kept per bundle may weigh: ~2 KiB each for horizon 14,
# so ~30,000 series; lookups of series past it are answered by the route, as before.
ANSWERS_BUDGET = 64 * 2**20


class SeriesAnswers:
    """The JSON bodies of whole-series lookups the route answered on this bundle, kept for the API's
    fast path (api/fastpath.py), which sends them again without FastAPI or polars. A body depends only
    on the bundle and the series, so it is never stale; the cache goes with its bundle on a swap.
    Filled and read on the event loop only."""

    def __init__(self, budget: int = ANSWERS_BUDGET):
        self.budget, self.size = budget, 0
        self._bodies: dict[tuple[str, str], bytes] = {}

    def get(self, product_id: str, store_id: str) -> bytes | None:
        return self._bodies.get((product_id, store_id))

    def keep(self, product_id: str, store_id: str, body: bytes) -> None:
        if (product_id, store_id) not in self._bodies and self.size + len(body) <= self.budget:
            self._bodies[(product_id, store_id)] = body
            self.size += len(body)


@dataclass(frozen=True)
class LoadedBundle:
    generation: str
    manifest: dict
    model: Combination
    inputs: FeatureInputs
    forecasts: pl.DataFrame  # sorted by series and horizon
    inference: pl.DataFrame  # the future feature rows of every series
    history: pl.DataFrame  # the newest actuals (origin features)
    series_profile: pl.DataFrame
    category_profile: pl.DataFrame
    feature_profile: pl.DataFrame
    dates: tuple[date, ...]  # the target dates, horizon 1..H
    product_rows: dict[str, tuple[int, int]]  # product_id -> (offset, rows) in `forecasts`
    series_rows: dict[tuple[str, str], tuple[int, int]]  # (product_id, store_id) -> (offset, rows)
    categories: frozenset[str]
    stores: frozenset[str]
    outlier_profiles: Profiles  # what a what-if request's rows are compared with
    local: Local | None  # the statistical forecasts of the series the model answers (they read no plan)
    baseline_plans: pl.DataFrame  # plan_columns of `inference`, sorted by series and target date
    plan_rows: dict[tuple[str, str], tuple[int, int]]  # (product_id, store_id) -> (offset, rows) in it
    answers: SeriesAnswers = field(default_factory=SeriesAnswers, compare=False, repr=False)

    @property
    def model_version(self) -> str:
        return self.manifest["champion"]["version"]

    @property
    def what_if(self) -> dict:
        return self.manifest["what_if"]

    def product_forecasts(self, product_id: str) -> pl.DataFrame:
        offset, rows = self.product_rows.get(product_id, (0, 0))
        return self.forecasts.slice(offset, rows)

    def series_forecasts(self, product_id: str, store_id: str) -> pl.DataFrame:
        """One series' rows: a slice, no filter (the lookup hot path)."""
        offset, rows = self.series_rows.get((product_id, store_id), (0, 0))
        return self.forecasts.slice(offset, rows)

    def series_plans(self, product_id: str, store_id: str) -> pl.DataFrame:
        """One series' stored plan per target date (`plan_columns` of its future rows): a slice."""
        offset, rows = self.plan_rows.get((product_id, store_id), (0, 0))
        return self.baseline_plans.slice(offset, rows)

    def series_of(self, product_id: str) -> list[str]:
        """The stores `product_id` is forecast in."""
        return list(dict.fromkeys(self.product_forecasts(product_id)["store_id"].to_list()))


def plan_columns(future: pl.DataFrame, factor: int | None, suffix: str) -> pl.DataFrame:
    """Keys, date, price and promotion of future feature rows; prices (Float32 in the features) back on
    the feed's grid, whose factors are powers of ten."""
    price = pl.col("price").cast(pl.Float64)
    price = price if factor is None else price.round(round(math.log10(factor)))
    return future.select(
        *KEYS, pl.col("period_date").alias("target_date"), price.alias(f"price{suffix}"),
        pl.col("on_promo").alias(f"on_promo{suffix}"),
    )  # fmt: skip


def _index(forecasts: pl.DataFrame, by: list[str]) -> dict:
    """Where each value of `by` starts in `forecasts` (sorted by it) and how many rows it has."""
    spans = (
        forecasts.with_row_index("_row")
        .group_by(by, maintain_order=True)
        .agg(pl.col("_row").first().alias("offset"), pl.len().alias("rows"))
    )
    return {(k[0] if len(k) == 1 else tuple(k)): (int(o), int(n)) for *k, o, n in spans.iter_rows()}


def load_bundle(root: Path, generation: str) -> LoadedBundle:
    content = read_bundle(root, generation)
    frames, manifest = content.frames, content.manifest
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"bundle format {manifest.get('format_version')}, this API reads {FORMAT_VERSION}: "
            "materialize serving_bundle again"
        )
    features = manifest["features"]
    cfg = FeatureConfig(
        target=features["target"],
        horizon=features["horizon"],
        freq=features["freq"],
        holidays=features.get("holidays"),
    )
    forecasts = frames["forecasts"].sort([*KEYS, "horizon"])
    dates = tuple(date.fromisoformat(d) for d in features["target_dates"])
    profiles = Profiles(
        series=frames["series_profile"],
        category=frames["category_profile"],
        categories=frames["series"].select(*KEYS, "category"),
        plan=frames["inference"].select(
            *KEYS, "period_date", pl.col("price").cast(pl.Float64).alias("plan_price")
        ),
        dates=dates,
        distance=InputDistance.from_json(manifest["input_distance"]),
        bins=load_bins(frames["reference_bins"]),
    )
    model = combination_from_json(content.model)
    inputs = feature_inputs(frames, features["factors"], cfg)
    inputs.groups  # sliced now, not by the first what-if  # noqa: B018
    answered = model_series(model.forecaster, frames["inference"], inputs.series)
    plans = plan_columns(frames["inference"], features["factors"].get("price"), "_baseline")
    plans = plans.sort([*KEYS, "target_date"])
    return LoadedBundle(
        generation=generation,
        manifest=manifest,
        model=model,
        inputs=inputs,
        forecasts=forecasts,
        inference=frames["inference"],
        history=frames["history"],
        series_profile=frames["series_profile"],
        category_profile=frames["category_profile"],
        feature_profile=frames["feature_profile"],
        dates=dates,
        product_rows=_index(forecasts, ["product_id"]),
        series_rows=_index(forecasts, KEYS),
        categories=frozenset(forecasts["category"].drop_nulls().unique().to_list()),
        stores=frozenset(forecasts["store_id"].unique().to_list()),
        outlier_profiles=profiles,
        local=model.local_forecasts(frames["history"], answered),
        baseline_plans=plans,
        plan_rows=_index(plans, KEYS),
    )
