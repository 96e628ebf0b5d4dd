"""Demand segments (Syntetos-Boylan): which statistical candidates a series gets, decided from its own
recent history before the origin it is forecast from.

ADI (average demand interval) = observed periods / periods with demand; CV^2 = squared coefficient of
variation of the non-zero demand sizes. A missing period (null y: nothing was recorded, e.g. the store
was closed) is neither demand nor a zero sale, so it counts in neither. The cut-offs 1.32 and 0.49 are
Syntetos, Boylan & Croston (2005): below both, smoothing methods (ETS, Theta) suit; a long interval
between demands (intermittent, lumpy) is what Croston-type methods model. A series with too few
demands to measure either is `sparse`, and keeps the global model alone.
"""

import polars as pl

from platform_assets.core.keys import KEYS

ADI_CUT = 1.32
CV2_CUT = 0.49
MIN_DEMANDS = 3  # non-zero periods needed for a size variance (CV^2) worth reading
SMOOTH, ERRATIC, INTERMITTENT, LUMPY, SPARSE = "smooth", "erratic", "intermittent", "lumpy", "sparse"
SEGMENTS = (SMOOTH, ERRATIC, INTERMITTENT, LUMPY, SPARSE)


def window_of(history: pl.DataFrame, origin_pn: int, window: int) -> pl.DataFrame:
    """The last `window` periods up to the origin of each series (keys, _pn, y) from its first actual
    on; a missing period keeps its null y."""
    return (
        history.lazy()
        .filter(pl.col("_pn").is_between(origin_pn - window + 1, origin_pn))
        .sort([*KEYS, "_pn"])
        .filter(pl.col("y").is_not_null().cum_max().over(KEYS))
        .select(*KEYS, "_pn", pl.col("y").cast(pl.Float64))
        .collect()
    )


def classify(recent: pl.DataFrame) -> pl.DataFrame:
    """keys, periods (observed), zero_share, adi, cv2, volume, segment per series of `recent` (keys, y:
    one row per period of the window, null where the period is missing)."""
    demand = pl.col("y").filter(pl.col("y") > 0)
    stats = recent.group_by(KEYS).agg(
        pl.col("y").count().alias("periods"),
        (pl.col("y") > 0).sum().alias("_demands"),
        (pl.col("y") <= 0).mean().alias("zero_share"),
        pl.col("y").sum().alias("volume"),
        (demand.std(ddof=0) / demand.mean()).pow(2).alias("cv2"),
    )
    adi = pl.col("periods") / pl.col("_demands")
    smooth_interval = pl.col("adi") < ADI_CUT
    steady_size = pl.col("cv2") < CV2_CUT
    segment = (
        pl.when(pl.col("_demands") < MIN_DEMANDS)
        .then(pl.lit(SPARSE))
        .when(smooth_interval & steady_size)
        .then(pl.lit(SMOOTH))
        .when(smooth_interval)
        .then(pl.lit(ERRATIC))
        .when(steady_size)
        .then(pl.lit(INTERMITTENT))
        .otherwise(pl.lit(LUMPY))
    )
    return (
        stats.with_columns(pl.when(pl.col("_demands") > 0).then(adi).alias("adi"))
        .with_columns(segment.alias("segment"))
        .select(*KEYS, "periods", "zero_share", "adi", "cv2", "volume", "segment")
        .sort(KEYS)
    )
