"""Local statistical candidates beside the global LightGBM: one small model per series, fitted by
statsforecast on the recent history before an origin and forecasting the same H steps.

Which candidates a series gets follows its demand segment (segments.py): ETS and Theta for smooth and
erratic demand, Croston (optimized), TSB, ADIDA and IMAPA for intermittent and lumpy demand.

Bounded in time and memory: only the last `WINDOW` periods of each series (10k daily series: 560k
rows), and at most `max_series` smooth-type series per origin (the highest-volume ones: WAPE weighs
series by volume); the others keep the LightGBM forecast. ETS and Theta (~25 and ~14 ms a series on
the loaded 2-core machine) are fitted in as many processes as LightGBM has threads, which sit idle
while they run: 1,000 series took 41 s in one process, 22 s in two. Intermittent candidates cost
~0.2 ms a series, less than a process pool's start-up, so they run in one process on every
intermittent series.
"""

import time

import polars as pl

from platform_assets.core.keys import KEYS
from platform_assets.core.periods import base_freq
from platform_assets.modeling.segments import ERRATIC, INTERMITTENT, LUMPY, SMOOTH, classify, window_of

# Periods of history a local model sees, per frequency. Daily: 8 weeks, 8 observations of each weekday
# for ETS's 7 seasonal states; older demand weighs little in an exponential smoother anyway, and ETS's
# fit time grows with the length (56 days: ~12 ms a series, 112: twice that). Weekly: 2 years (a
# 52-period season is beyond ETS's seasonal limit of 24, Theta's decomposition still reads it).
# Monthly: 6 years, long enough for Theta's trend on an 18-month horizon.
WINDOW = {"D": 56, "W": 104, "M": 72}
# Smooth-type series fitted per origin (ETS + Theta: ~20 ms a series on the shared machine).
MAX_SERIES = 1_000
MIN_PERIODS = 10  # a shorter window has too little to smooth: the series keeps LightGBM
SMOOTH_MODELS = ("ets", "theta")
INTERMITTENT_MODELS = ("croston", "tsb", "adida", "imapa")
CANDIDATES = (*SMOOTH_MODELS, *INTERMITTENT_MODELS)
SEGMENT_MODELS: dict[str, tuple[str, ...]] = {
    SMOOTH: SMOOTH_MODELS,
    ERRATIC: SMOOTH_MODELS,
    INTERMITTENT: INTERMITTENT_MODELS,
    LUMPY: INTERMITTENT_MODELS,
}
TSB_ALPHA = 0.1  # TSB's demand and probability smoothing: the common default for slow movers


def _model(name: str, season: int):
    """The statsforecast model behind a candidate name (aliased to it)."""
    from statsforecast.models import ADIDA, IMAPA, TSB, AutoETS, CrostonOptimized, DynamicOptimizedTheta

    # Additive error and no trend: demand has zeros (no multiplicative error), and the trend is what
    # the Theta candidate models; ETS chooses between no season and an additive one by AICc.
    factories = {
        "ets": lambda: AutoETS(season_length=season, model="ANZ", alias="ets"),
        "theta": lambda: DynamicOptimizedTheta(season_length=season, alias="theta"),
        "croston": lambda: CrostonOptimized(alias="croston"),
        "tsb": lambda: TSB(alpha_d=TSB_ALPHA, alpha_p=TSB_ALPHA, alias="tsb"),
        "adida": lambda: ADIDA(alias="adida"),
        "imapa": lambda: IMAPA(alias="imapa"),
    }
    return factories[name]()


def fitted_series(segments: pl.DataFrame, max_series: int) -> pl.DataFrame:
    """keys, segment of the series the candidates are fitted on: every intermittent-type series, and
    the `max_series` highest-volume smooth-type ones (ties broken by keys: deterministic)."""
    long_enough = segments.filter(pl.col("periods") >= MIN_PERIODS)
    smooth = (
        long_enough.filter(pl.col("segment").is_in([SMOOTH, ERRATIC]))
        .sort(["volume", *KEYS], descending=[True, False, False])
        .head(max_series)
    )
    sparse = long_enough.filter(pl.col("segment").is_in([INTERMITTENT, LUMPY]))
    return pl.concat([smooth, sparse]).select(*KEYS, "segment").sort(KEYS)


def _forecast(
    recent: pl.DataFrame, chosen: pl.DataFrame, names: list[str], horizon: int, season: int, n_jobs: int
):
    """keys, horizon and one column per candidate name, for the `chosen` series of `recent`."""
    from statsforecast import StatsForecast
    from statsforecast.models import Naive

    ids = chosen.select(KEYS).with_row_index("unique_id").with_columns(pl.col("unique_id").cast(pl.String))
    # The local models read a regular series: a missing period enters as no sales, as the mart's zeros do.
    panel = recent.join(ids, on=KEYS, how="inner").select(
        "unique_id", pl.col("_pn").alias("ds"), pl.col("y").fill_null(0.0)
    )
    engine = StatsForecast(
        models=[_model(n, season) for n in names], freq=1, n_jobs=n_jobs, fallback_model=Naive()
    )
    out = pl.DataFrame(engine.forecast(h=horizon, df=panel))
    stepped = out.with_columns(
        (pl.col("ds") - pl.col("ds").min().over("unique_id") + 1).cast(pl.Int32).alias("horizon")
    )
    return stepped.join(ids, on="unique_id").select(
        *KEYS, "horizon", *[pl.col(n).clip(lower_bound=0.0).cast(pl.Float64) for n in names]
    )


def candidate_forecasts(
    history: pl.DataFrame,
    origin_pn: int,
    horizon: int,
    freq: str,
    season: int,
    max_series: int = MAX_SERIES,
    wanted: dict[str, tuple[str, ...]] | None = None,
    n_jobs: int = 1,
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, float]]:
    """(segments of every series at the origin; keys, horizon and every candidate column for the
    fitted series, null where a candidate does not apply; fit seconds per candidate fitted).
    `history`: keys, _pn, y. `wanted` narrows the candidates fitted per segment (forecasting fits
    only the chosen ones). Each candidate is fitted on its own so its cost can be read apart (the
    bench and MLflow report it per method); joining them costs one small join per candidate. ETS and
    Theta run in `n_jobs` processes, the intermittent models in one (see the module doc)."""
    recent = window_of(history, origin_pn, WINDOW[base_freq(freq)])
    segments = classify(recent)
    chosen = fitted_series(segments, max_series)
    models = SEGMENT_MODELS if wanted is None else wanted
    schema = {**{k: pl.String for k in KEYS}, "horizon": pl.Int32, **dict.fromkeys(CANDIDATES, pl.Float64)}
    forecasts, seconds = pl.DataFrame(schema=schema).select(*KEYS, "horizon"), {}
    for name in CANDIDATES:
        groups = [s for s, m in SEGMENT_MODELS.items() if name in m and name in models.get(s, ())]
        series = chosen.filter(pl.col("segment").is_in(groups))
        if series.is_empty():
            continue
        began = time.perf_counter()
        jobs = n_jobs if name in SMOOTH_MODELS else 1
        part = _forecast(recent, series, [name], horizon, season, jobs)
        seconds[name] = time.perf_counter() - began
        forecasts = forecasts.join(part, on=[*KEYS, "horizon"], how="full", coalesce=True)
    forecasts = pl.concat([pl.DataFrame(schema=schema), forecasts], how="diagonal_relaxed")
    columns = [pl.col(c).cast(t) for c, t in schema.items()]
    return segments, forecasts.select(columns).sort(*KEYS, "horizon"), seconds
