"""Train one global LightGBM forecaster with a rolling-origin backtest against naive baselines.

Origins o_i = T - H*(i+1) for i < n_origins (T = last actual period). For each origin the model is fit
on rows dated <= o_i and scored on o_i+1 .. o_i+H next to two baselines on exactly the same rows:
naive (the last actual value at the origin) and seasonal naive (the last season before the origin,
repeated; series with less than a season of history fall back to naive). The p10/p90 band is
conformal: quantiles of scaled backtest residuals per horizon step, calibrated for each origin on the
other origins, so the latest origin's coverage is measured on intervals fitted only on earlier ones.
"""

from dataclasses import asdict, dataclass, field, replace
from datetime import date

import numpy as np
import polars as pl

from platform_assets.core.keys import KEYS
from platform_assets.core.periods import SEASON, base_freq, numbered, offset_periods, period_number
from platform_assets.features import origin as origin_features
from platform_assets.features.columns import feature_columns
from platform_assets.features.config import FeatureConfig
from platform_assets.modeling.forecaster import Forecaster, conformal_offsets, with_intervals
from platform_assets.modeling.metrics import backtest_metrics, in_sample_scale
from platform_assets.modeling.sampling import MAX_FIT_ROWS, sample_series
from platform_assets.modeling.tuning import SearchResult, search

# Demand: L1 on y/scale with rows weighted by scale, i.e. absolute error in units: the p50 is a median,
# which is what WAPE and MASE reward (a mean loses to "nothing" on intermittent demand). Backtest WAPE
# (Ta Feng, all 12,360 backtest series / 300 synthetic series / the 24-series test generator):
# tweedie, lr 0.05: 1.091 / 0.405 / 0.450; weighted L1 + origin features, lr 0.05: 0.949 / 0.394 /
# 0.426; the same at lr 0.1: 0.924 / 0.396 / 0.421 (L1 boosting moves in small median steps and
# underfits at 0.05; 0.15 gave 0.914 / 0.398 / 0.432). Weighted Huber is 2.4x cheaper to fit (no leaf
# renewal) but not a safe swap: delta 0.1 / 0.2 / 0.3 gave 0.903 / 0.925 / 0.937 on Ta Feng, 0.3962 /
# 0.3942 / 0.3942 on synthetic, and 0.442 / 0.441 / 0.434 on the test generator, where it loses to the
# recent median (0.432; more rounds make it worse). Price: y/scale hovers around 1, L2 fits.
DEFAULT_PARAMS: dict = {
    "learning_rate": 0.1,
    "num_leaves": 31,
    "min_data_in_leaf": 50,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_bin": 63,  # 255 bins cost ~30% more time for no measurable accuracy on 300 series x 730 days
    "num_iterations": 300,
}
OBJECTIVE = {
    "units_sold": {"objective": "l1"},
    "price": {"objective": "l2"},
}
BACKTEST = [
    *KEYS,
    "period_date",
    "origin",
    "horizon",
    "y",
    "p10",
    "p50",
    "p90",
    "naive",
    "seasonal_naive",
    "recent_median",
    "mase_scale",
]


@dataclass(frozen=True)
class TrainConfig:
    horizon: int = 14
    freq: str = "D"
    target: str = "units_sold"
    n_origins: int = 3
    params: dict | None = None  # overrides DEFAULT_PARAMS / OBJECTIVE
    seed: int = 42
    num_threads: int = 2
    # Observed periods a row needs behind it (as of t-H). None: one season, capped at the medium feature
    # window (13 weeks, 6 months) so weekly and monthly feeds with a year or two of history are usable.
    min_history: int | None = None
    tune_trials: int = 0  # > 0: an Optuna search (tuning.py) picks the hyperparameters first
    # Rows a fit may use: above it, each fit takes a seeded sample of whole series (sampling.py); the
    # backtest still scores every series. None: no cap.
    max_fit_rows: int | None = MAX_FIT_ROWS
    origin_features: bool = True  # read the newest actuals at each row's origin (origin_features.py)

    @property
    def season(self) -> int:
        return SEASON[base_freq(self.freq)]

    def lgb_params(self) -> dict:
        """Tunable defaults, then the caller's overrides, then what reproducibility requires."""
        fixed = {
            "seed": self.seed,
            "num_threads": self.num_threads,
            "deterministic": True,
            "force_row_wise": True,
            "verbose": -1,
        }
        return {**DEFAULT_PARAMS, **OBJECTIVE[self.target], **(self.params or {}), **fixed}


@dataclass
class TrainingResult:
    model: Forecaster
    metrics: dict[str, float]
    backtest: pl.DataFrame
    importance: pl.DataFrame
    n_train_rows: int
    params: dict = field(default_factory=dict)  # everything worth logging about how the model was made
    example: pl.DataFrame | None = None  # a few input rows, for the MLflow signature
    search: SearchResult | None = None  # the hyperparameter search, when one ran


def _baselines(
    history: pl.DataFrame, window: pl.DataFrame, origin_pn: int, season: int, recent: int
) -> pl.DataFrame:
    """naive, seasonal_naive, recent_median and the MASE scale for `window` rows, from history up to
    the origin only. recent_median (the median of the last `recent` periods' actuals) is the bar on
    intermittent demand, where any mean-like forecast loses to "mostly nothing" on WAPE."""
    # Lazy, and the seasonal source limited to the last season: at 50k series `history` is 36M rows and
    # eager copies of it per origin cost several GB (the 50k scale bench's training spikes).
    seen = history.lazy().filter(pl.col("_pn") <= origin_pn)
    last = seen.group_by(KEYS).agg(pl.col("y").drop_nulls().last().alias("naive"))
    median = (
        seen.filter(pl.col("_pn") > origin_pn - recent)
        .group_by(KEYS)
        .agg(pl.col("y").median().alias("recent_median"))
    )
    seasonal = seen.filter(pl.col("_pn") > origin_pn - season).select(
        *KEYS, pl.col("_pn").alias("_src"), pl.col("y").alias("_snaive")
    )
    scale = in_sample_scale(seen.select(*KEYS, "y").collect(), KEYS, season)
    source = origin_pn - season + 1 + (pl.col("horizon") - 1) % season
    return (
        window.lazy()
        .with_columns(source.cast(pl.Int32).alias("_src"))
        .join(last, on=KEYS, how="left", maintain_order="left")
        .join(median, on=KEYS, how="left", maintain_order="left")
        .join(seasonal, on=[*KEYS, "_src"], how="left", maintain_order="left")
        .join(scale.lazy(), on=KEYS, how="left", maintain_order="left")
        .with_columns(
            pl.coalesce("_snaive", "naive").alias("seasonal_naive"),
            pl.coalesce("recent_median", "naive").alias("recent_median"),
        )
        .drop("_src", "_snaive")
        .collect()
    )


def _residual_offsets(backtest: pl.DataFrame, horizon: int, exclude_origin=None) -> list[tuple[float, float]]:
    rows = backtest if exclude_origin is None else backtest.filter(pl.col("origin") != exclude_origin)
    residuals = rows.select("horizon", ((pl.col("y") - pl.col("p50")) / pl.col("scale")).alias("r"))
    return conformal_offsets(residuals, horizon)


def _origins(usable: pl.DataFrame, last: date, cfg: TrainConfig) -> list[date]:
    """The requested origins, oldest first, minus those with nothing to learn from or nothing to score
    (short histories keep the newest origins; with a single one, coverage is measured in-sample)."""
    wanted = [offset_periods(last, -cfg.horizon * (i + 1), cfg.freq) for i in reversed(range(cfg.n_origins))]
    dates = usable["period_date"]
    kept = [
        o
        for o in wanted
        if (dates <= o).any() and ((dates > o) & (dates <= offset_periods(o, cfg.horizon, cfg.freq))).any()
    ]
    if not kept:
        raise ValueError(
            f"history too short: no backtest origin {cfg.horizon} periods or more before the last period "
            "has eligible rows both before and after it"
        )
    return kept


def history_of(features: pl.DataFrame, cfg: TrainConfig) -> pl.DataFrame:
    """The rows with actuals or gaps (not the future), numbered by period, in a stable order."""
    return numbered(features.filter(~pl.col("is_future")).sort([*KEYS, "period_date"]), cfg.freq)


def min_history(cfg: TrainConfig) -> int:
    """Observed periods a row needs behind it to be eligible (see TrainConfig.min_history)."""
    mid = FeatureConfig(cfg.target, cfg.horizon, cfg.freq).windows[1]
    return min(cfg.season, mid) if cfg.min_history is None else cfg.min_history


def base_forecaster(features: pl.DataFrame, cfg: TrainConfig) -> tuple[Forecaster, int]:
    """The untrained forecaster every fit starts from (features, category levels of the history
    rows, LightGBM params), and its number of boosting rounds."""
    fcfg = FeatureConfig(cfg.target, cfg.horizon, cfg.freq)
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
        offsets=[],
        target=cfg.target,
        horizon=cfg.horizon,
        freq=cfg.freq,
        min_history=min_history(cfg),
        params=params,
        weight_by_scale=cfg.target == "units_sold",
        origin_windows=origin if cfg.origin_features else None,
    )
    return base, rounds


@dataclass(frozen=True)
class RowPlan:
    """Which rows a training needs with all their columns: every row of the sampled series (all series
    when `sample` is None) and, of the others, the rows after the oldest backtest origin."""

    origins: list[date]
    oldest_pn: int
    sample: pl.DataFrame | None  # keys of the series the fits use, with `_fit` = True
    eligible_rows: int


def plan_rows(narrow: pl.DataFrame, cfg: TrainConfig) -> RowPlan:
    """The backtest origins and the fits' series sample, from the NARROW columns of every row."""
    ok = ~pl.col("is_future") & pl.col("scale").is_not_null() & (pl.col("n_obs") >= min_history(cfg))
    usable = numbered(
        narrow.lazy().filter(ok & pl.col("y").is_not_null()).select(*KEYS, "period_date").collect(), cfg.freq
    )
    last = narrow.lazy().filter(~pl.col("is_future")).select(pl.col("period_date").max()).collect().item()
    origins = _origins(usable, last, cfg)
    sample = None
    if cfg.max_fit_rows is not None and usable.height > cfg.max_fit_rows:
        sample = sample_series(usable, cfg.seed, cfg.max_fit_rows).with_columns(pl.lit(True).alias("_fit"))
    oldest_pn = pl.select(period_number(pl.lit(origins[0]), cfg.freq)).item()
    return RowPlan(origins, oldest_pn, sample, usable.height)


# The columns `plan_rows` reads, and `train` reads of every row (the rest only of the planned rows).
NARROW = [*KEYS, "period_date", "y", "is_future", "scale", "n_obs"]


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
    origins, oldest_pn, sample, eligible_rows = plan.origins, plan.oldest_pn, plan.sample, plan.eligible_rows
    base, rounds = base_forecaster(features, cfg)
    history = history_of(narrow.select(*KEYS, "period_date", "y", "is_future"), cfg).drop("is_future")
    del narrow
    recent = FeatureConfig(cfg.target, cfg.horizon, cfg.freq).windows[1]
    ok = ~pl.col("is_future") & base.eligible() & pl.col("y").is_not_null()

    def kept(frame: pl.LazyFrame, after_pn: int) -> pl.LazyFrame:
        """Rows of sampled series, and rows of the others after period `after_pn`; all without a cap."""
        if sample is None:
            return frame
        marked = frame.join(sample.lazy(), on=KEYS, how="left", maintain_order="left")
        return marked.filter(pl.col("_fit").fill_null(False) | (pl.col("_pn") > after_pn)).drop("_fit")

    rows = (
        kept(numbered(features.lazy().filter(ok), cfg.freq), oldest_pn).sort([*KEYS, "period_date"]).collect()
    )
    # Statistics at every period are computed once: the one at period s reads actuals up to s only (a
    # series outside the sample is read from `mid` periods before the oldest origin: exact from there).
    stats = None
    if base.origin_windows is not None:
        source = kept(history.lazy(), oldest_pn - base.origin_windows[1]).collect()
        stats = origin_features.origin_stats(source, *base.origin_windows)
        del source
        rows = origin_features.attach(origin_features.assign_horizon(rows, cfg.horizon), stats)

    def at_origin(window: pl.DataFrame, origin_pn: int) -> pl.DataFrame:
        """Rows after an origin, as forecasts made at it: true horizon, origin features read there."""
        stepped = window.with_columns((pl.col("_pn") - origin_pn).cast(pl.Int32).alias("horizon"))
        return stepped if stats is None else origin_features.attach(stepped, stats)

    fit = rows if sample is None else rows.join(sample, on=KEYS, how="semi", maintain_order="left")
    tuned = None
    if cfg.tune_trials > 0:
        before_backtest = offset_periods(origins[0], -cfg.horizon, cfg.freq)
        defaults = {**base.params, "num_iterations": rounds}
        tuned = search(
            fit, base, defaults, before_backtest, at_origin, cfg.freq, cfg.horizon, cfg.tune_trials, cfg.seed
        )
        best = dict(tuned.best.params)
        rounds = int(best.pop("num_iterations"))
        base = replace(base, params={**base.params, **best})
    names, params = base.feature_names, base.params
    example = rows.select(*KEYS, "period_date", "scale", "n_obs", *[n for n in names if n not in KEYS]).tail(
        5
    )
    # One matrix for every fit: each origin's fit takes a row slice of it, not a filtered frame copy.
    matrix, z, weight = base.training_data(fit)
    period = fit["_pn"].to_numpy()
    fit_rows, fit_series = fit.height, fit.select(KEYS).n_unique()
    del fit
    windows = []
    for origin in origins:
        origin_pn = pl.select(period_number(pl.lit(origin), cfg.freq)).item()
        window = at_origin(
            rows.filter(pl.col("_pn").is_between(origin_pn + 1, origin_pn + cfg.horizon)), origin_pn
        )
        take = np.flatnonzero(period <= origin_pn)
        model = base.fit_arrays(matrix[take], z[take], None if weight is None else weight[take], rounds)
        del take
        scored = window.select(*KEYS, "period_date", "y", "scale", "_pn", "horizon").with_columns(
            pl.lit(origin).alias("origin"),
            pl.Series("p50", model.point(window)),
        )
        windows.append(_baselines(history, scored, origin_pn, cfg.season, recent))
    points = pl.concat(windows)
    per_origin = [
        with_intervals(part, _residual_offsets(points, cfg.horizon, None if len(windows) == 1 else origin))
        for (origin,), part in points.group_by("origin", maintain_order=True)
    ]
    backtest = pl.concat(per_origin).sort("origin", *KEYS, "period_date").select(BACKTEST)

    del rows  # the final fit needs only the matrix
    final = base.fit_arrays(matrix, z, weight, rounds)
    del matrix
    final.offsets = _residual_offsets(points, cfg.horizon)
    booster = final.booster
    importance = pl.DataFrame(
        {
            "feature": names,
            "gain": booster.feature_importance("gain").astype(float),
            "split": booster.feature_importance("split").astype(int),
        }
    ).sort("gain", descending=True, maintain_order=True)
    return TrainingResult(
        model=final,
        metrics=backtest_metrics(backtest),
        backtest=backtest,
        importance=importance,
        n_train_rows=fit_rows,
        params={
            "n_origins_used": len(windows),
            **{k: v for k, v in asdict(cfg).items() if k != "params"},
            **params,
            "num_iterations": rounds,
            "n_features": len(names),
            "fit_series": fit_series,
            "eligible_rows": eligible_rows,
            **(
                {}
                if tuned is None
                else {"tuning_origin": tuned.tuning_origin, "tuning_best_trial": tuned.best.number}
            ),
        },
        example=example,
        search=tuned,
    )
