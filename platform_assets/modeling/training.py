"""Train one global LightGBM forecaster: backtest it on rolling origins (backtest.py), calibrate its
intervals on the backtest residuals, then fit the final model on all history.

The rows are planned first (plan.py): the origins, and the seeded sample of series the fits use when
the table is over the row cap. Hyperparameters come from the configuration or, with tuning trials, from
a search on a window the backtest never scores (tuning.py).
"""

from dataclasses import asdict, dataclass, field, replace
from datetime import date
from functools import partial

import polars as pl

from platform_assets.core.keys import KEYS
from platform_assets.core.periods import numbered, offset_periods
from platform_assets.features import origin as origin_features
from platform_assets.features.columns import feature_columns
from platform_assets.modeling.backtest import FitArrays, origin_points, residual_offsets, with_bands
from platform_assets.modeling.combination import COMPONENTS, Combination, stat_backtest
from platform_assets.modeling.forecaster import Forecaster
from platform_assets.modeling.intervals import Band
from platform_assets.modeling.metrics import backtest_metrics, segment_coverage
from platform_assets.modeling.plan import NARROW, RowPlan, history_of, plan_rows
from platform_assets.modeling.selection import component_metrics
from platform_assets.modeling.train_config import TrainConfig, min_history
from platform_assets.modeling.tuning import SearchResult, search


@dataclass
class TrainingResult:
    model: Forecaster  # the LightGBM component
    metrics: dict[str, float]  # of the combination (wape, ...), each component's (lgbm_wape, ets_wape, ...)
    backtest: pl.DataFrame
    importance: pl.DataFrame
    n_train_rows: int
    params: dict = field(default_factory=dict)  # everything worth logging about how the model was made
    search: SearchResult | None = None  # the hyperparameter search, when one ran
    combination: Combination | None = None  # what is registered: LightGBM and the chosen stat models
    components: pl.DataFrame | None = None  # COMPONENTS of every backtest row


def base_forecaster(features: pl.DataFrame, cfg: TrainConfig) -> tuple[Forecaster, int]:
    """The untrained forecaster every fit starts from (features, category levels of the history
    rows, LightGBM params), and its number of boosting rounds."""
    fcfg = cfg.feature_config
    names, categorical = feature_columns(fcfg, features.columns)
    past = features.lazy().filter(~pl.col("is_future"))
    levels = {
        c: past.select(pl.col(c).drop_nulls().unique().sort()).collect()[c].to_list() for c in categorical
    }
    origin = fcfg.windows[0], fcfg.windows[1]
    if cfg.origin_features:
        names = [*names, *origin_features.names(*origin)]
    params = cfg.lgb_params()
    rounds = int(params.pop("num_iterations"))
    base = Forecaster(
        model_str="",
        feature_names=names,
        categorical_names=categorical,
        category_levels=levels,
        offsets=Band(cfg.levels),
        target=cfg.target,
        horizon=cfg.horizon,
        freq=cfg.freq,
        min_history=min_history(cfg),
        params=params,
        weight_by_scale=cfg.target == "units_sold",
        origin_windows=origin if cfg.origin_features else None,
    )
    return base, rounds


def _kept(frame: pl.LazyFrame, sample: pl.DataFrame | None, after_pn: int) -> pl.LazyFrame:
    """Rows of sampled series, and rows of the others after period `after_pn`; all without a cap."""
    if sample is None:
        return frame
    marked = frame.join(sample.lazy(), on=KEYS, how="left", maintain_order="left")
    return marked.filter(pl.col("_fit").fill_null(False) | (pl.col("_pn") > after_pn)).drop("_fit")


def _planned_rows(
    features: pl.DataFrame, history: pl.DataFrame, base: Forecaster, cfg: TrainConfig, plan: RowPlan
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """(the eligible rows with actuals some fit or backtest window uses, with their origin features;
    the origin statistics at every period, None for a model that reads none)."""
    ok = ~pl.col("is_future") & base.eligible() & pl.col("y").is_not_null()
    rows = (
        _kept(numbered(features.lazy().filter(ok), cfg.freq), plan.sample, plan.oldest_pn)
        .sort([*KEYS, "period_date"])
        .collect()
    )
    if base.origin_windows is None:
        return rows, None
    # Statistics at every period are computed once: the one at period s reads actuals up to s only (a
    # series outside the sample is read from `mid` periods before the oldest origin: exact from there).
    source = _kept(history.lazy(), plan.sample, plan.oldest_pn - base.origin_windows[1]).collect()
    stats = origin_features.origin_stats(source, *base.origin_windows)
    del source
    return origin_features.attach(origin_features.assign_horizon(rows, cfg.horizon), stats), stats


def _at_origin(window: pl.DataFrame, origin_pn: int, stats: pl.DataFrame | None) -> pl.DataFrame:
    """Rows after an origin, as forecasts made at it: true horizon, origin features read there."""
    stepped = window.with_columns((pl.col("_pn") - origin_pn).cast(pl.Int32).alias("horizon"))
    return stepped if stats is None else origin_features.attach(stepped, stats)


def _tuned(
    fit: pl.DataFrame, base: Forecaster, rounds: int, oldest_origin: date, at_origin, cfg: TrainConfig
) -> tuple[SearchResult, Forecaster, int]:
    """The search on the H periods before the oldest backtest origin, and the forecaster and rounds
    its best trial chose."""
    before_backtest = offset_periods(oldest_origin, -cfg.horizon, cfg.freq)
    defaults = {**base.params, "num_iterations": rounds}
    found = search(
        fit, base, defaults, before_backtest, at_origin, cfg.freq, cfg.horizon, cfg.tune_trials, cfg.seed
    )
    best = dict(found.best.params)
    rounds = int(best.pop("num_iterations"))
    return found, replace(base, params={**base.params, **best}), rounds


def _importance(model: Forecaster) -> pl.DataFrame:
    booster = model.booster
    return pl.DataFrame(
        {
            "feature": model.feature_names,
            "gain": booster.feature_importance("gain").astype(float),
            "split": booster.feature_importance("split").astype(int),
        }
    ).sort("gain", descending=True, maintain_order=True)


def _logged_params(
    cfg: TrainConfig, base: Forecaster, rounds: int, plan: RowPlan, fit_series: int, tuned
) -> dict:
    """How the model was made, as the training run logs it."""
    tuning = (
        {}
        if tuned is None
        else {"tuning_origin": tuned.tuning_origin, "tuning_best_trial": tuned.best.number}
    )
    return {
        "n_origins_used": len(plan.origins),
        **{k: v for k, v in asdict(cfg).items() if k != "params"},
        **base.params,
        "num_iterations": rounds,
        "n_features": len(base.feature_names),
        "fit_series": fit_series,
        "eligible_rows": plan.eligible_rows,
        **tuning,
    }


def train(
    features: pl.DataFrame,
    cfg: TrainConfig,
    narrow: pl.DataFrame | None = None,
    plan: RowPlan | None = None,
) -> TrainingResult:
    """Backtest on rolling origins, calibrate intervals, then fit the final model on all history.

    Memory at scale: only the rows some fit or backtest window uses are copied with all their columns
    (every row of the sampled series, the backtest windows of the others); the rest is read as
    (keys, period, y) for the baselines and origin statistics. With `narrow` (the NARROW columns of
    every row), `features` need only hold the rows `plan_rows(narrow, cfg)` asks for; pass that `plan`
    too when the caller already made it.
    """
    narrow = features.select(NARROW) if narrow is None else narrow
    plan = plan_rows(narrow, cfg) if plan is None else plan
    base, rounds = base_forecaster(features, cfg)
    history = history_of(narrow.select(*KEYS, "period_date", "y", "is_future"), cfg).drop("is_future")
    del narrow
    rows, stats = _planned_rows(features, history, base, cfg, plan)
    at_origin = partial(_at_origin, stats=stats)
    fit = rows if plan.sample is None else rows.join(plan.sample, on=KEYS, how="semi", maintain_order="left")
    tuned = None
    if cfg.tune_trials > 0:
        tuned, base, rounds = _tuned(fit, base, rounds, plan.origins[0], at_origin, cfg)
    arrays = FitArrays(*base.training_data(fit), fit["_pn"].to_numpy())
    fit_rows, fit_series = fit.height, fit.select(KEYS).n_unique()
    del fit
    points = origin_points(rows, history, base, rounds, arrays, plan.origins, at_origin, cfg)
    del rows  # the final fit needs only the matrix
    combined, choices, stat_seconds = stat_backtest(points, history, plan.origins, cfg)
    backtest = with_bands(combined, cfg.horizon, len(plan.origins), cfg.levels)
    final = base.fit_arrays(arrays.matrix, arrays.z, arrays.weight, rounds, "final fit")
    del arrays
    final.offsets = residual_offsets(points, cfg.horizon, cfg.levels)  # LightGBM's own band, for it alone
    offsets = residual_offsets(combined, cfg.horizon, cfg.levels)
    metrics = {
        **backtest_metrics(backtest),
        **segment_coverage(backtest, combined),
        **component_metrics(combined, choices),
        "stat_fit_seconds": sum(stat_seconds.values()),
        **{f"{name}_fit_seconds": spent for name, spent in stat_seconds.items() if spent > 0},
    }
    return TrainingResult(
        model=final,
        metrics=metrics,
        backtest=backtest,
        importance=_importance(final),
        n_train_rows=fit_rows,
        params=_logged_params(cfg, base, rounds, plan, fit_series, tuned),
        search=tuned,
        combination=Combination(final, choices, offsets, cfg.stat_max_series),
        components=combined.select(COMPONENTS).sort("origin", *KEYS, "period_date"),
    )
