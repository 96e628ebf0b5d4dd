"""Readable model quality: the per-group numbers agree with modeling/metrics.py, the worst series are
the highest MASE, and the sMAPE note appears (with this backtest's numbers) only on intermittent data."""

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from platform_assets.modeling import metrics as m
from platform_assets.monitoring.quality_tables import (
    breakdown,
    comparison,
    group_metrics,
    intermittency_note,
    segment_coverage_table,
    worst_series,
)


def _backtest(zero_share: float, seed: int = 5) -> pl.DataFrame:
    """Six series over two origins of seven days; `zero_share` of the actuals are zero."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(6):
        for origin in (date(2025, 1, 1), date(2025, 1, 8)):
            for h in range(1, 8):
                y = 0.0 if rng.random() < zero_share else float(rng.poisson(5 + 3 * i))
                p50 = max(0.0, y + rng.normal(0, 1 + i))
                rows.append(
                    {
                        "product_id": f"p{i}",
                        "store_id": "s1" if i % 2 else "s2",
                        "origin": origin,
                        "period_date": origin + timedelta(days=h),
                        "y": y,
                        "p10": max(0.0, p50 - 2),
                        "p50": p50,
                        "p90": p50 + 2,
                        "naive": y + 1.0,
                        "seasonal_naive": max(0.0, y - 1.0),
                        "recent_median": 5.0,
                        "mase_scale": 1.0 + i,
                    }
                )
    return pl.DataFrame(rows)


SERIES = pl.DataFrame(
    {"product_id": [f"p{i}" for i in range(6)], "store_id": ["s2", "s1"] * 3, "category": ["a", "a", "b"] * 2}
)


def test_group_metrics_agree_with_the_metric_functions():
    backtest = _backtest(0.3)
    by_category = breakdown(backtest, SERIES, "category")
    for category in ("a", "b"):
        rows = backtest.join(SERIES.filter(pl.col("category") == category), on=["product_id", "store_id"])
        got = by_category.filter(pl.col("category") == category).row(0, named=True)
        assert got["WAPE"] == pytest.approx(m.wape(rows["y"], rows["p50"]), abs=5e-4)
        assert got["sMAPE"] == pytest.approx(m.smape(rows["y"], rows["p50"]), abs=5e-4)
        assert got["MASE"] == pytest.approx(m.mase(rows["y"], rows["p50"], rows["mase_scale"]), abs=5e-4)
        assert got["seasonal naive WAPE"] == pytest.approx(
            m.wape(rows["y"], rows["seasonal_naive"]), abs=5e-4
        )
        assert got["coverage 80%"] == pytest.approx(m.coverage(rows["y"], rows["p10"], rows["p90"]), abs=5e-4)
        assert (
            got["series"] == rows.select("product_id", "store_id").n_unique() == (4 if category == "a" else 2)
        )
    assert by_category["volume"].to_list() == sorted(by_category["volume"].to_list(), reverse=True)
    assert breakdown(backtest, SERIES, "store_id")["store_id"].sort().to_list() == ["s1", "s2"]


def test_worst_series_are_the_highest_mase_with_unscorable_last():
    backtest = _backtest(0.0).with_columns(
        pl.when(pl.col("product_id") == "p0").then(0.0).otherwise(pl.col("mase_scale")).alias("mase_scale")
    )
    worst = worst_series(backtest, SERIES, n=6)
    assert worst.height == 6 and worst["category"].null_count() == 0
    scored = worst.filter(pl.col("MASE").is_not_null())["MASE"].to_list()
    assert scored == sorted(scored, reverse=True)
    assert worst["product_id"][-1] == "p0"  # scale 0 with errors: no finite MASE, listed last
    assert worst_series(backtest, SERIES).height == 6  # fewer series than the default 10


def test_comparison_is_rounded_model_first():
    metrics = {"wape": 0.123456, "mase": 0.5, "smape": 1.0311, "rmse": 4.2, "coverage_80": 0.7321}
    metrics |= {"coverage_95": 0.9, "coverage_80_lumpy": 0.5}
    metrics |= {"seasonal_naive_wape": 0.56789, "seasonal_naive_mase": 0.7, "seasonal_naive_smape": 0.6}
    metrics |= {"seasonal_naive_rmse": 5.0}
    table = comparison(metrics)
    assert table["method"].to_list() == ["model", "seasonal naive"]
    assert table.row(0, named=True)["WAPE"] == 0.123 and table.row(0, named=True)["coverage 80%"] == 0.732
    assert table.row(0, named=True)["coverage 95%"] == 0.9
    assert table.row(1, named=True)["coverage 80%"] is None
    by_segment = segment_coverage_table(metrics)
    assert by_segment.rows() == [("lumpy", 0.5, None), ("all", 0.732, 0.9)]


def test_smape_note_only_on_intermittent_data_with_its_numbers():
    assert intermittency_note(_backtest(0.0), {"smape": 0.2}) is None
    backtest = _backtest(0.4)
    zero_share = (backtest["y"] == 0).mean()
    note = intermittency_note(
        backtest, {"smape": m.smape(backtest["y"], backtest["p50"]), "seasonal_naive_smape": 0.5}
    )
    assert note is not None and f"{zero_share:.0%} of the backtest periods sold nothing" in note
    selling = backtest.filter(pl.col("y") > 0)
    assert f"{m.smape(selling['y'], selling['p50']):.3f} on periods with sales" in note
    assert "WAPE and MASE" in note
    assert group_metrics(backtest, ["store_id"])["zero share"].max() > 0
