"""The fit plan: which backtest origins a training scores and which series its fits use, decided from
a few columns of every row before the rest of the table is read."""

from dataclasses import dataclass
from datetime import date

import polars as pl

from platform_assets.core.keys import KEYS
from platform_assets.core.periods import numbered, offset_periods, period_number
from platform_assets.modeling.sampling import sample_series
from platform_assets.modeling.train_config import TrainConfig, min_history

# The columns `plan_rows` reads, and `train` reads of every row (the rest only of the planned rows).
NARROW = [*KEYS, "period_date", "y", "is_future", "scale", "n_obs"]


@dataclass(frozen=True)
class RowPlan:
    """Which rows a training needs with all their columns: every row of the sampled series (all series
    when `sample` is None) and, of the others, the rows after the oldest backtest origin."""

    origins: list[date]
    oldest_pn: int
    sample: pl.DataFrame | None  # keys of the series the fits use, with `_fit` = True
    eligible_rows: int


def origins(usable: pl.DataFrame, last: date, cfg: TrainConfig) -> list[date]:
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
            f"has eligible rows both before and after it; land more history, or set a shorter "
            f"SHELFCAST_HORIZON (now {cfg.horizon}) or fewer SHELFCAST_BACKTEST_ORIGINS (now {cfg.n_origins})"
        )
    return kept


def plan_rows(narrow: pl.DataFrame, cfg: TrainConfig) -> RowPlan:
    """The backtest origins and the fits' series sample, from the NARROW columns of every row."""
    ok = ~pl.col("is_future") & pl.col("scale").is_not_null() & (pl.col("n_obs") >= min_history(cfg))
    usable = numbered(
        narrow.lazy().filter(ok & pl.col("y").is_not_null()).select(*KEYS, "period_date").collect(), cfg.freq
    )
    last = narrow.lazy().filter(~pl.col("is_future")).select(pl.col("period_date").max()).collect().item()
    planned = origins(usable, last, cfg)
    sample = None
    if cfg.max_fit_rows is not None and usable.height > cfg.max_fit_rows:
        sample = sample_series(usable, cfg.seed, cfg.max_fit_rows).with_columns(pl.lit(True).alias("_fit"))
    oldest_pn = pl.select(period_number(pl.lit(planned[0]), cfg.freq)).item()
    return RowPlan(planned, oldest_pn, sample, usable.height)


def history_of(features: pl.DataFrame, cfg: TrainConfig) -> pl.DataFrame:
    """The rows with actuals or gaps (not the future), numbered by period, in a stable order."""
    return numbered(features.filter(~pl.col("is_future")).sort([*KEYS, "period_date"]), cfg.freq)
