"""Metrics against values computed by hand."""

import math
from datetime import date

import polars as pl
import pytest

from platform_assets.modeling.metrics import (
    backtest_metrics,
    coverage,
    in_sample_scale,
    mase,
    rmse,
    segment_coverage,
    smape,
    wape,
)

Y = [0.0, 2.0, 4.0]
YHAT = [0.0, 1.0, 6.0]


def test_point_metrics_by_hand():
    assert wape(Y, YHAT) == pytest.approx(3 / 6)
    # 0/0 counts as 0; then 2*1/(2+1) and 2*2/(4+6)
    assert smape(Y, YHAT) == pytest.approx((0 + 2 / 3 + 0.4) / 3)
    assert rmse(Y, YHAT) == pytest.approx(math.sqrt(5 / 3))
    assert mase(Y, YHAT, [1.0, 1.0, 2.0]) == pytest.approx(3 / 4)
    assert coverage(Y, [0.0, 1.5, 5.0], [1.0, 3.0, 7.0]) == pytest.approx(2 / 3)


def test_degenerate_inputs():
    assert wape([0, 0], [0, 0]) == 0.0
    assert wape([0, 0], [1, 0]) == math.inf
    assert smape([0, 0], [0, 0]) == 0.0
    assert smape([1], [0]) == pytest.approx(2.0)  # the 0..2 scale's maximum
    assert math.isnan(smape([], []))
    assert mase([1, 1], [1, 1], [0, 0]) == 0.0


def test_in_sample_scale_seasonal_then_naive_then_zero():
    history = pl.DataFrame(
        {
            "product_id": ["a"] * 4 + ["b"] * 2 + ["c"],
            "store_id": ["all"] * 7,
            "y": [1.0, 3.0, 2.0, 5.0, 4.0, 6.0, 9.0],
        }
    )
    scale = in_sample_scale(history, ["product_id", "store_id"], season=2)
    got = dict(zip(scale["product_id"], scale["mase_scale"], strict=True))
    assert got == {"a": pytest.approx((1 + 2) / 2), "b": pytest.approx(2.0), "c": 0.0}


def test_backtest_metrics_average_over_origins_and_cover_on_last_origin():
    o1, o2 = date(2024, 1, 1), date(2024, 1, 8)
    frame = pl.DataFrame(
        {
            "origin": [o1, o1, o2, o2],
            "y": [2.0, 2.0, 4.0, 4.0],
            "p50": [1.0, 3.0, 3.0, 4.0],
            "p10": [5.0, 5.0, 0.0, 0.0],  # misses on the first origin, covers on the last
            "p90": [6.0, 6.0, 9.0, 9.0],
            "p2_5": [0.0, 0.0, 4.5, 0.0],  # the 95% band misses one row of the last origin
            "p97_5": [9.0, 9.0, 9.5, 9.5],
            "naive": [2.0, 2.0, 4.0, 4.0],
            "seasonal_naive": [0.0, 0.0, 0.0, 0.0],
            "mase_scale": [1.0, 1.0, 2.0, 2.0],
        }
    )
    m = backtest_metrics(frame)
    assert m["wape"] == pytest.approx((2 / 4 + 1 / 8) / 2)  # not the pooled 3/12
    assert m["mase"] == pytest.approx((2 / 2 + 1 / 4) / 2)
    assert m["naive_wape"] == 0.0 and m["seasonal_naive_wape"] == pytest.approx(1.0)
    assert m["seasonal_naive_smape"] == pytest.approx(2.0)
    assert m["coverage_80"] == 1.0 and m["coverage_95"] == 0.5
    expected = {
        f"{p}{k}" for p in ("", "naive_", "seasonal_naive_") for k in ("wape", "smape", "mase", "rmse")
    }
    assert set(m) == expected | {"coverage_80", "coverage_95"}
    segments = frame.select(
        pl.lit("p").alias("product_id"),
        pl.Series("store_id", ["a", "b", "a", "b"]),
        pl.lit(date(2024, 1, 9)).alias("period_date"),
        "origin",
        pl.Series("segment", ["smooth", "lumpy", "smooth", "lumpy"]),
    )
    keyed = frame.with_columns(segments.select("product_id", "store_id", "period_date"))
    assert segment_coverage(keyed, segments) == {  # the newest origin only
        "coverage_80_lumpy": 1.0, "coverage_80_smooth": 1.0,
        "coverage_95_lumpy": 1.0, "coverage_95_smooth": 0.0,
    }  # fmt: skip
