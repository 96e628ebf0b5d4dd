"""What the registered model carries besides its fitted models, so that it forecasts from series ids:
the recent history and the known-future inputs of the active series, as of the training run.

The same frames a serving bundle holds for its what-if (modeling/rows.py reads them), bounded: only
the peer groups (category x store) holding an active series, whose every series a rebuilt row's peer
features read; the sales of the periods the features look back over (`forecasting_frames`); future
rows, actuals and forecasts of the active series only. Also the statistical models' forecasts at the
newest actual period (they read no plan, so a planned price does not refit them) and the batch
forecast of every active series (what a fallback series keeps)."""

import dataclasses
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from platform_assets.core.keys import KEYS
from platform_assets.features.columns import PEERS
from platform_assets.features.config import FeatureConfig
from platform_assets.features.rebuild import FRAMES, Check, FeatureInputs, check_rebuild, feature_inputs
from platform_assets.modeling.combination import Combination, Local
from platform_assets.modeling.forecasting import make_forecasts, model_series

MANIFEST = "state.json"


@dataclass(frozen=True)
class SeriesState:
    inputs: FeatureInputs
    inference: pl.DataFrame  # the future feature rows of the active series, as the batch built them
    history: pl.DataFrame  # their newest actuals (keys, period_date, y)
    local: Local | None  # the statistical models' forecasts of the series the model answers
    baseline: pl.DataFrame  # make_forecasts of every active series with the stored plans
    check: Check  # whether the inputs rebuild `inference` exactly: plans can be scored

    @property
    def dates(self) -> list[date]:
        """The target dates, horizon 1..H."""
        return self.inference["period_date"].unique().sort().to_list()


def _peer_groups(frame: pl.DataFrame, products: pl.DataFrame) -> pl.DataFrame:
    """`frame` with its rows' peer group (PEERS: category, null for a product without one, x store)."""
    return frame.join(products.select("product_id", "category"), on="product_id", how="left")


def _in_groups(frame: pl.DataFrame, groups: pl.DataFrame, products: pl.DataFrame) -> pl.DataFrame:
    keep = _peer_groups(frame.select(KEYS).unique(), products).join(
        groups, on=list(PEERS), how="semi", nulls_equal=True
    )
    return frame.join(keep.select(KEYS), on=KEYS, how="semi", maintain_order="left")


def bounded(frames: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """`forecasting_frames` narrowed to the peer groups of the active series (and their catalog, the
    events: small, and read whole)."""
    products = frames["products"]
    active = frames["series"].filter(pl.col("is_active")).select(KEYS)
    groups = _peer_groups(active, products).select(*PEERS).unique()
    out = {name: _in_groups(frames[name], groups, products) for name in ("sales", "carry", "plans", "series")}
    out.update({n: frames[n].join(active, on=KEYS, how="semi") for n in ("inference", "history")})
    return {**out, "products": products, "events": frames["events"]}


def series_state(
    model: Combination, frames: dict[str, pl.DataFrame], factors: dict, cfg: FeatureConfig
) -> SeriesState:
    """The state the model forecasts from, of `forecasting_frames` read with the build's `factors`."""
    kept = bounded(frames)
    inputs = feature_inputs(kept, factors, cfg)
    inference, history = kept["inference"], kept["history"]
    local = model.local_forecasts(history, model_series(model.forecaster, inference, inputs.series))
    baseline = make_forecasts(
        model, inference, inputs.series, history, local, recent_window=inputs.cfg.windows[1]
    )
    return SeriesState(inputs, inference, history, local, baseline, check_rebuild(inputs, inference))


def write_state(state: SeriesState, folder: Path) -> None:
    """One Parquet file per frame and a manifest (the settings, factors and the rebuild's check)."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = {name: getattr(state.inputs, name) for name in FRAMES}
    frames.update(inference=state.inference, history=state.history, baseline=state.baseline)
    if state.local is not None:
        frames.update(segments=state.local.segments, stat=state.local.stat)
    for name, frame in frames.items():
        frame.write_parquet(folder / f"{name}.parquet")
    cfg = state.inputs.cfg
    manifest = {
        "features": dataclasses.asdict(cfg),
        "factors": state.inputs.factors,
        "rebuild": {"exact": state.check.exact, "reason": state.check.reason},
        "series": state.baseline.select(KEYS).n_unique(),
        "first_target_date": state.inputs.first_future.isoformat(),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))


def read_state(folder: Path) -> SeriesState:
    manifest = json.loads((folder / MANIFEST).read_text())
    frames = {p.stem: pl.read_parquet(p) for p in sorted(folder.glob("*.parquet"))}
    inputs = feature_inputs(frames, manifest["factors"], FeatureConfig(**manifest["features"]))
    inputs.groups  # sliced now, not by the first request with a plan  # noqa: B018
    local = Local(frames["segments"], frames["stat"]) if "segments" in frames else None
    check = Check(**manifest["rebuild"])
    return SeriesState(inputs, frames["inference"], frames["history"], local, frames["baseline"], check)
