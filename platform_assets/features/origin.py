"""Features read at the forecast origin, for each horizon step (polars in, polars out).

The base features (columns.py) are built as of t-H, so one row answers every step 1..H; a forecast
for step h < H made that way ignores the H-h most recent periods, which on intermittent demand are
most of what there is to know. These columns are read at t-h instead (the origin, for a row h steps
ahead) and go with `horizon` as a feature, so one model learns how fast fresh information ages.

A training row has no origin of its own: it gets a horizon drawn uniformly from 1..H by a seeded hash
of its key, so the model sees every step in equal measure without multiplying the rows. Backtest and
inference rows get their true horizon. Every statistic at period s reads actuals up to s only.
"""

import polars as pl

from platform_assets.core.keys import KEYS

SEED = 20_240_611


def _statistics(short: int, mid: int) -> dict[str, pl.Expr]:
    """Each statistic by feature name: of a series' actuals up to s, for the windows (short, mid) of the
    feed's period."""
    y = pl.col("y")
    return {
        # Bounded like the windows, so the newest `mid` periods are all inference needs to read.
        "origin_last": y.forward_fill(limit=mid - 1),
        f"origin_mean_{short}": y.rolling_mean(short, min_samples=1),
        f"origin_mean_{mid}": y.rolling_mean(mid, min_samples=1),
        f"origin_median_{mid}": y.rolling_median(mid, min_samples=1),
        f"origin_zero_share_{mid}": (y == 0).cast(pl.Float64).rolling_mean(mid, min_samples=1),
    }


def names(short: int, mid: int) -> list[str]:
    """Feature names, for the windows (short, mid) of the feed's period."""
    return ["horizon", *_statistics(short, mid)]


def origin_stats(history: pl.DataFrame, short: int, mid: int) -> pl.DataFrame:
    """Per series and period s (`_pn`): the last actual and rolling statistics of actuals up to s,
    unscaled. `history`: keys, `_pn`, `y` (null where nothing was observed), one row per period."""
    return (
        history.select(*KEYS, "_pn", "y")
        .sort([*KEYS, "_pn"])
        .select(
            *KEYS,
            pl.col("_pn").alias("_origin_pn"),
            *(stat.over(KEYS).alias(name) for name, stat in _statistics(short, mid).items()),
        )
    )


def assign_horizon(rows: pl.DataFrame, horizon: int) -> pl.DataFrame:
    """Training rows: a seeded, uniform horizon in 1..H per (series, period)."""
    draw = pl.struct(*KEYS, "_pn").hash(SEED) % horizon + 1
    return rows.with_columns(draw.cast(pl.Int32).alias("horizon"))


def attach(rows: pl.DataFrame, stats: pl.DataFrame) -> pl.DataFrame:
    """`rows` (keys, `_pn`, `horizon`, `scale`) with the statistics read at `_pn - horizon`, scaled
    like every target feature (divided by the row's `scale`); row order is kept."""
    level = [c for c in stats.columns if c.startswith("origin_") and "zero_share" not in c]
    drop = [c for c in stats.columns if c in rows.columns and c not in KEYS]
    return (
        rows.drop(drop)
        .with_columns((pl.col("_pn") - pl.col("horizon")).cast(pl.Int32).alias("_origin_pn"))
        .join(
            stats.with_columns(pl.col("_origin_pn").cast(pl.Int32)),
            on=[*KEYS, "_origin_pn"],
            how="left",
            maintain_order="left",
        )
        .with_columns((pl.col(c) / pl.col("scale")).cast(pl.Float32) for c in level)
        .drop("_origin_pn")
    )
