"""The champion: the global LightGBM plus, per demand segment, the statistical method the backtest chose
(selection.py), with conformal bands calibrated on the combined forecast per segment (intervals.py).

The statistical models are refitted when forecasting, on the newest history the caller passes, rather
than stored fitted: a local model's forecast is a function of its latest actuals (as LightGBM's lag
features are), so stored states would forecast from the training date however late the forecast is
made; the refit costs what one backtest origin costs, and the registered artifact stays small.
"""

from dataclasses import dataclass, field
from datetime import date

import polars as pl

from platform_assets.core.keys import KEYS
from platform_assets.core.periods import SEASON, base_freq, numbered, period_number
from platform_assets.modeling.forecaster import Forecaster, output
from platform_assets.modeling.intervals import Band, as_band, with_intervals
from platform_assets.modeling.selection import LGBM, apply, candidate_of, combine_backtest
from platform_assets.modeling.statmodels import CANDIDATES, MAX_SERIES, WINDOW, candidate_forecasts
from platform_assets.modeling.train_config import TrainConfig

# Columns of `ml.backtest_components`: how each backtest row's p50 was made.
COMPONENTS = [*KEYS, "period_date", "origin", "horizon", "segment", "method", LGBM, *CANDIDATES]


@dataclass(frozen=True)
class Local:
    """The statistical models' forecasts at one origin: each series' segment, and per series and
    horizon step a column per fitted candidate (statmodels.candidate_forecasts)."""

    segments: pl.DataFrame
    stat: pl.DataFrame


@dataclass
class Combination:
    forecaster: Forecaster
    choices: dict[str, str] = field(default_factory=dict)  # segment -> method; absent: LightGBM
    offsets: Band | None = None  # of the combined forecast, per segment (None: LightGBM's own)
    max_series: int = MAX_SERIES

    @property
    def horizon(self) -> int:
        return self.forecaster.horizon

    @property
    def freq(self) -> str:
        return self.forecaster.freq

    def wanted(self) -> dict[str, tuple[str, ...]]:
        """The candidates each segment's choice needs fitted."""
        return {s: (candidate_of(m),) for s, m in self.choices.items()}

    def __post_init__(self) -> None:
        if not self.offsets:  # LightGBM alone: its own band
            self.offsets = self.forecaster.offsets

    @property
    def band(self) -> Band:
        return as_band(self.offsets)

    def predict(self, rows: pl.DataFrame, history: pl.DataFrame, local: Local | None = None) -> pl.DataFrame:
        """keys, period_date and the band's quantile columns per row of one forecast window (`rows`, with
        the forecaster's features), from LightGBM and the chosen statistical models refitted on `history`
        (keys, period_date, y, up to the last actual period); null where LightGBM may not answer.
        `local`: those statistical forecasts made already (`local_forecasts`), instead of refitted."""
        if "horizon" not in rows.columns:
            rows = rows.with_columns(pl.col("period_date").rank("dense").alias("horizon"))
        scored = self._lgbm(rows.with_columns(pl.col("horizon").cast(pl.Int32)))
        if local is None:
            local = self.local_forecasts(history, rows.select(KEYS).unique())
        if local is None:
            return self._combined(scored.with_columns(pl.lit(None, pl.String).alias("segment")))
        with_segment = scored.join(
            local.segments.select(*KEYS, "segment"), on=KEYS, how="left", maintain_order="left"
        )
        return self._combined(
            with_segment.join(local.stat, on=[*KEYS, "horizon"], how="left", maintain_order="left")
        )

    def local_forecasts(self, history: pl.DataFrame, keys: pl.DataFrame) -> Local | None:
        """The chosen statistical models' forecasts of the series `keys` from the newest period of
        `history` on, and the series' segments (None: neither a choice nor a per-segment band needs
        them). They read only the actuals, not the plans: a what-if forecast may reuse them."""
        if not (self.choices or self.band.segmented) or history.is_empty():
            return None
        history = numbered(history.join(keys, on=KEYS, how="semi"), self.freq)
        season = SEASON[base_freq(self.freq)]
        segments, stat, _ = candidate_forecasts(
            history,
            history["_pn"].max(),
            self.horizon,
            self.freq,
            season,
            self.max_series,
            self.wanted(),
            self.forecaster.params.get("num_threads", 1),
        )
        return Local(segments.select(*KEYS, "segment"), stat)

    def predict_with(self, rows: pl.DataFrame, candidates: pl.DataFrame) -> pl.DataFrame:
        """`predict` row for row on backtest `rows` (with origin and horizon), the statistical forecasts
        read from a backtest's components (keys, period_date, origin, segment, candidate columns)
        instead of refitted: how the gate scores an incumbent on a challenger's windows."""
        on = [*KEYS, "period_date", "origin"]
        joined = self._lgbm(rows).join(
            candidates.select(*on, "segment", *CANDIDATES), on=on, how="left", maintain_order="left"
        )
        return self._combined(joined)

    def _lgbm(self, rows: pl.DataFrame) -> pl.DataFrame:
        """`rows`' keys, dates, horizon and scale (and origin) with LightGBM's p50 as `lgbm`."""
        p50 = self.forecaster.p50(rows).clip(lower_bound=0)  # `predict`'s p50, row for row with `rows`
        kept = [c for c in (*KEYS, "period_date", "origin", "horizon", "scale") if c in rows.columns]
        return rows.select(kept).with_columns(p50.alias(LGBM))

    def _combined(self, scored: pl.DataFrame) -> pl.DataFrame:
        for name in CANDIDATES:
            if name not in scored.columns:
                scored = scored.with_columns(pl.lit(None, pl.Float64).alias(name))
        combined = apply(scored, self.choices).with_columns(
            pl.when(pl.col(LGBM).is_not_null()).then(pl.col("p50")).alias("p50")
        )
        return with_intervals(combined, self.band).select(output(self.band))


def stat_backtest(
    points: pl.DataFrame, history: pl.DataFrame, origins: list[date], cfg: TrainConfig
) -> tuple[pl.DataFrame, dict[str, str], dict[str, float]]:
    """(LightGBM's backtest `points` with p50 replaced by the honest combination and lgbm, segment,
    method and the candidate columns added; the final choice; seconds spent fitting each candidate,
    summed over the origins)."""
    parts, seconds = [], dict.fromkeys(CANDIDATES, 0.0)
    for origin in origins:
        origin_pn = pl.select(period_number(pl.lit(origin), cfg.freq)).item()
        window = points.filter(pl.col("origin") == origin).rename({"p50": LGBM})
        wanted = None if cfg.stat_models else {}
        segments, stat, spent = candidate_forecasts(
            history,
            origin_pn,
            cfg.horizon,
            cfg.freq,
            cfg.season,
            cfg.stat_max_series,
            wanted,
            cfg.num_threads,
        )
        seconds = {name: seconds[name] + spent.get(name, 0.0) for name in CANDIDATES}
        parts.append(
            window.join(segments.select(*KEYS, "segment"), on=KEYS, how="left", maintain_order="left").join(
                stat, on=[*KEYS, "horizon"], how="left", maintain_order="left"
            )
        )
    combined, choices = combine_backtest(pl.concat(parts))
    return combined, choices, seconds


def history_periods(freq: str, mid: int) -> int:
    """Periods of actuals forecasting needs: the origin features' window and the local models'."""
    return max(mid, WINDOW[base_freq(freq)])
