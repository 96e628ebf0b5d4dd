"""Interval levels: the quantile columns' names, their order, and the conformal bands per segment."""

import numpy as np
import polars as pl
import pytest

from platform_assets.core.levels import band_columns, bounds, levels_in, ordered, parse_levels
from platform_assets.modeling.intervals import MIN_RESIDUALS, Band, as_band, calibrate, with_intervals


def test_each_level_names_its_two_quantiles():
    assert bounds(80) == ("p10", "p90") and bounds(95) == ("p2_5", "p97_5") and bounds(50) == ("p25", "p75")
    assert bounds(99.5) == ("p0_25", "p99_75") and bounds(90) == ("p5", "p95")
    assert band_columns((80, 95)) == ["p2_5", "p10", "p50", "p90", "p97_5"]
    assert band_columns((50, 80)) == ["p10", "p25", "p50", "p75", "p90"]
    assert levels_in(["y", "p2_5", "p10", "p50", "p90", "p97_5", "p25"]) == (80.0, 95.0)  # p25 has no p75


def test_levels_setting_needs_80_and_central_levels():
    assert parse_levels("95, 80") == (80.0, 95.0) and parse_levels("80") == (80.0,)
    for bad, why in (("95", "must include 80"), ("80,100", "not a central"), ("80,ninety", "numbers")):
        with pytest.raises(ValueError, match=why):
            parse_levels(bad)


def test_clamp_orders_every_quantile_outward_from_the_median():
    frame = pl.DataFrame(
        {"p2_5": [3.0, -1.0], "p10": [1.0, -0.5], "p50": [2.0, 1.0], "p90": [1.5, 4.0], "p97_5": [5.0, 3.0]}
    )
    got = ordered(frame, (80, 95)).select(band_columns((80, 95)))
    assert got.rows() == [(1.0, 1.0, 2.0, 2.0, 5.0), (0.0, 0.0, 1.0, 4.0, 4.0)]


def _residuals(n: int, segment: str, spread: float, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "horizon": np.tile([1, 2], n // 2).astype(np.int32),
            "r": rng.normal(0, spread, n),
            "segment": segment,
        }
    )


def test_segments_with_enough_residuals_get_their_own_band():
    """A lumpy segment three times as spread as a smooth one gets its own, wider offsets; a segment
    with fewer than MIN_RESIDUALS residuals takes the pooled ones; each segment then covers close to
    the nominal level on fresh residuals, where the pooled band would not."""
    residuals = pl.concat(
        [
            _residuals(4000, "smooth", 1.0, 1),
            _residuals(4000, "lumpy", 3.0, 2),
            _residuals(MIN_RESIDUALS - 2, "erratic", 10.0, 3),
        ]
    )
    band = calibrate(residuals, horizon=3, levels=(80, 95))
    segments = {row[0] for row in band.rows}
    assert segments == {None, "smooth", "lumpy"}  # erratic: too few residuals
    assert {row[2] for row in band.rows if row[0] is None} == {1, 2, 3}  # step 3 borrows every step's
    fresh = pl.concat([_residuals(4000, "smooth", 1.0, 4), _residuals(4000, "lumpy", 3.0, 5)])
    rows = fresh.with_columns(pl.lit(0.0).alias("p50"), pl.lit(1.0).alias("scale"), pl.col("r").alias("y"))
    scored = with_intervals(rows.with_columns(pl.lit(100.0).alias("p50"), pl.col("y") + 100), band)
    pooled = with_intervals(
        rows.drop("segment").with_columns(pl.lit(100.0).alias("p50"), pl.col("y") + 100), band
    )
    for level, nominal in ((80, 0.8), (95, 0.95)):
        lower, upper = bounds(level)
        inside = (pl.col("y") >= pl.col(lower)) & (pl.col("y") <= pl.col(upper))
        by_segment = scored.group_by("segment").agg(inside.mean())["y"].to_list()
        assert all(abs(c - nominal) < 0.03 for c in by_segment)
        pooled_by = pooled.with_columns(fresh["segment"]).group_by("segment").agg(inside.mean())["y"]
        assert max(abs(c - nominal) for c in pooled_by) > 0.05
    # A row of the erratic segment (no band of its own) gets the pooled offsets.
    one = pl.DataFrame({"p50": [100.0, 100.0], "scale": 1.0, "horizon": pl.Series([1, 1], dtype=pl.Int32)})
    erratic = with_intervals(one.with_columns(pl.Series("segment", ["erratic", None])), band)
    quantiles = erratic.select(band.columns())
    assert quantiles.row(0) == quantiles.row(1) and quantiles["p10"][0] < 100.0


def test_a_segments_band_follows_the_pooled_profile_over_the_horizon():
    """Errors that grow with the horizon: a segment's own quantiles (over all its steps) are stretched
    per step as the pooled band is, so its step-2 band is wider than its step-1 band."""
    rng = np.random.default_rng(11)
    growing = pl.DataFrame(
        {
            "horizon": np.repeat([1, 2], 2000).astype(np.int32),
            "r": rng.normal(0, 1, 4000) * np.repeat([1, 2], 2000),
        }
    )
    residuals = pl.concat(
        [
            growing.with_columns(pl.lit("smooth").alias("segment")),
            growing.with_columns(pl.col("r") * 3, pl.lit("lumpy").alias("segment")),
        ]
    )
    band = calibrate(residuals, horizon=2, levels=(80,))
    lumpy = {h: (lo, hi) for s, _, h, lo, hi in band.rows if s == "lumpy"}
    pooled = {h: (lo, hi) for s, _, h, lo, hi in band.rows if s is None}
    assert lumpy[2][1] / lumpy[1][1] == pytest.approx(pooled[2][1] / pooled[1][1])
    assert lumpy[2][1] > lumpy[1][1] > pooled[1][1]


def test_band_travels_as_json_and_reads_older_models():
    band = calibrate(_residuals(200, "smooth", 1.0, 7), horizon=2, levels=(80, 95))
    assert Band.from_json(band.to_json()) == band
    legacy = as_band([(-1.0, 2.0), (-2.0, 3.0)])  # a model pickled before levels: its 80% band
    assert legacy.levels == (80.0,) and legacy.columns() == ["p10", "p50", "p90"]
    frame = pl.DataFrame({"p50": [5.0], "scale": [1.0], "horizon": pl.Series([2], dtype=pl.Int32)})
    assert with_intervals(frame, [(-1.0, 2.0), (-2.0, 3.0)]).row(0, named=True) == {
        "p50": 5.0, "scale": 1.0, "horizon": 2, "p10": 3.0, "p90": 8.0,
    }  # fmt: skip
