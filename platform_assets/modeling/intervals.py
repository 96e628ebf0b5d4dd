"""Conformal prediction bands: quantiles of backtest residuals, per interval level, horizon step and demand
segment, added to a p50 in scale units.

Residuals are scaled, r = (y - p50) / scale, so one set of offsets serves series of every size. Pooled
over all series, the band is too narrow where demand is intermittent (y is often 0 far below a p50 that
averages the rare sales) and too wide on smooth series; so each segment (segments.py) gets its own
offsets where it has at least MIN_RESIDUALS residuals, and the pooled ones otherwise.
"""

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import polars as pl

from platform_assets.core.levels import REQUIRED, band_columns, bounds, level_label, ordered, tails

# Residuals a segment needs for its own quantiles: fewer, and the pooled ones serve.
MIN_RESIDUALS = 30
Row = tuple[str | None, float, int, float, float]  # segment (None: pooled), level, horizon, lo, hi


@dataclass
class Band:
    """Offsets (lo, hi) in scale units per (segment or pooled, level, horizon step)."""

    levels: tuple[float, ...] = (REQUIRED,)
    rows: list[Row] = field(default_factory=list)

    @property
    def segmented(self) -> bool:
        return any(row[0] is not None for row in self.rows)

    def columns(self) -> list[str]:
        """The quantile columns this band makes, lowest first."""
        return band_columns(self.levels)

    def to_json(self) -> dict:
        return {"levels": list(self.levels), "rows": [list(r) for r in self.rows]}

    @classmethod
    def from_json(cls, data: dict | list) -> "Band":
        if isinstance(data, list):  # a bundle written before bands had levels
            return as_band(data)
        return cls(
            tuple(float(v) for v in data["levels"]),
            [(s, float(v), int(h), float(lo), float(hi)) for s, v, h, lo, hi in data["rows"]],
        )

    def table(self, pooled: bool) -> pl.DataFrame:
        """One row per horizon step (pooled) or per (segment, step), with `_lo_L` / `_hi_L` per level
        (suffixed `_seg` for segments): what `with_intervals` joins (made once per band's content)."""
        return _table(tuple(self.levels), tuple(tuple(r) for r in self.rows), pooled)


@functools.lru_cache(maxsize=64)
def _table(levels: tuple[float, ...], rows: tuple[Row, ...], pooled: bool) -> pl.DataFrame:
    keys = ["horizon"] if pooled else ["segment", "horizon"]
    suffix = "" if pooled else "_seg"
    names = [f"_{side}_{level_label(v)}{suffix}" for v in levels for side in ("lo", "hi")]
    cells: dict[tuple, dict[str, float]] = {}
    for segment, level, h, lo, hi in rows:
        if (segment is None) == pooled:
            cell = cells.setdefault((h,) if pooled else (segment, h), {})
            cell[f"_lo_{level_label(level)}{suffix}"], cell[f"_hi_{level_label(level)}{suffix}"] = lo, hi
    schema = {"segment": pl.String, "horizon": pl.Int32} | dict.fromkeys(names, pl.Float64)
    records = [(*key, *(cell.get(n) for n in names)) for key, cell in sorted(cells.items())]
    return pl.DataFrame(records, schema={k: schema[k] for k in [*keys, *names]}, orient="row")


def as_band(offsets: "Band | Sequence[Sequence[float]]") -> Band:
    """A Band; a list of (q10, q90) pairs per horizon step (a model pickled before levels) is its 80%
    band, pooled."""
    if isinstance(offsets, Band):
        return offsets
    return Band(
        (REQUIRED,), [(None, REQUIRED, h, float(lo), float(hi)) for h, (lo, hi) in enumerate(offsets, 1)]
    )


def _quantiles(levels: Iterable[float]) -> list[pl.Expr]:
    exprs = []
    for level in levels:
        lo, hi = tails(level)
        label = level_label(level)
        exprs += [
            pl.col("r").quantile(lo, "linear").alias(f"lo_{label}"),
            pl.col("r").quantile(hi, "linear").alias(f"hi_{label}"),
        ]
    return exprs


def calibrate(
    residuals: pl.DataFrame, horizon: int, levels: Sequence[float], min_residuals: int = MIN_RESIDUALS
) -> Band:
    """The band of scaled residuals (horizon, r, and optionally segment): pooled per horizon step (a step
    without residuals takes every step's), and per segment with `min_residuals` residuals.

    A segment's quantiles are read over all its steps (per step, a segment holds a tenth of the
    residuals or fewer) and follow the pooled band's profile over the horizon: at step h they are the
    segment's quantile times pooled(h) / pooled(all steps)."""
    levels = tuple(sorted(levels))
    residuals = residuals.filter(pl.col("r").is_not_null() & pl.col("r").is_finite())
    overall = residuals.select(_quantiles(levels)).row(0, named=True)
    per_step = {
        r["horizon"]: r for r in residuals.group_by("horizon").agg(_quantiles(levels)).iter_rows(named=True)
    }
    pooled = {(v, h): _pair(per_step.get(h, overall), v) for h in range(1, horizon + 1) for v in levels}
    rows: list[Row] = [(None, v, h, *pair) for (v, h), pair in pooled.items()]
    if "segment" not in residuals.columns:
        return Band(levels, rows)
    segments = (
        residuals.filter(pl.col("segment").is_not_null())
        .group_by("segment")
        .agg(pl.len().alias("_n"), *_quantiles(levels))
        .filter(pl.col("_n") >= min_residuals)
        .sort("segment")
    )
    for cell in segments.iter_rows(named=True):
        for v in levels:
            own, everywhere = _pair(cell, v), _pair(overall, v)
            for h in range(1, horizon + 1):
                profile = [p / e if e != 0 else 1.0 for p, e in zip(pooled[v, h], everywhere, strict=True)]
                rows.append((cell["segment"], v, h, own[0] * profile[0], own[1] * profile[1]))
    return Band(levels, rows)


def _pair(values: dict, level: float) -> tuple[float, float]:
    label = level_label(level)
    return tuple(
        0.0 if values[f"{s}_{label}"] is None else float(values[f"{s}_{label}"]) for s in ("lo", "hi")
    )


def with_intervals(frame: pl.DataFrame, offsets: "Band | Sequence[Sequence[float]]") -> pl.DataFrame:
    """`frame` (p50, scale, horizon, optionally segment) with every quantile column of the band: p50 plus
    the segment's offsets where it has its own, the pooled ones otherwise; ordered and non-negative."""
    band = as_band(offsets)
    horizon = frame.schema.get("horizon", pl.Int32)
    pooled = band.table(pooled=True).lazy().with_columns(pl.col("horizon").cast(horizon))
    out = (  # lazy: one pass however many levels
        frame.lazy()
        .with_columns(pl.col("p50").clip(lower_bound=0))
        .join(pooled, on="horizon", how="left", maintain_order="left")
    )
    segmented = band.segmented and "segment" in frame.columns
    if segmented:
        by_segment = band.table(pooled=False).lazy().with_columns(pl.col("horizon").cast(horizon))
        out = out.join(by_segment, on=["segment", "horizon"], how="left", maintain_order="left")
    bands = []
    for level in band.levels:
        label = level_label(level)
        for side, name, bound in zip(
            ("lo", "hi"), bounds(level), (pl.min_horizontal, pl.max_horizontal), strict=True
        ):
            offset = (
                pl.coalesce(f"_{side}_{label}_seg", f"_{side}_{label}")
                if segmented
                else pl.col(f"_{side}_{label}")
            )
            bands.append(bound(pl.col("p50") + offset * pl.col("scale"), pl.col("p50")).alias(name))
    helpers = [c for c in out.collect_schema().names() if c.startswith(("_lo_", "_hi_"))]
    return ordered(out.with_columns(bands).drop(helpers), band.levels).collect()
