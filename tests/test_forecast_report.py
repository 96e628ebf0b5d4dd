"""Forecast pictures: the HTML report holds every series (searchable, escaped, with its numbers and
backtest error), its SVG charts place values where they belong, and the PNGs decode at their size."""

import re
from datetime import date, timedelta
from io import BytesIO

import matplotlib.image
import polars as pl

from platform_assets.monitoring.forecast_plots import series_png, top_series_png
from platform_assets.monitoring.forecast_report import (
    forecast_report_html,
    method_mix,
    preview_table,
    series_svg,
    shown_periods,
)
from platform_assets.monitoring.presentation import forecast_presentation
from platform_assets.monitoring.quality_tables import group_metrics

LAST = date(2025, 3, 31)
HORIZON = 5
SERIES = [
    ("p1", "s1", "dairy", "Milk"),
    ("p2", "s1", "snacks", "<script>alert(1)</script>"),
    ("p3", "s2", "dairy", None),
]


def _frames() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    history = pl.DataFrame(
        [
            {
                "product_id": p,
                "store_id": s,
                "period_date": LAST - timedelta(days=d),
                "y": float(10 * i + d % 7),
            }
            for i, (p, s, _, _) in enumerate(SERIES)
            for d in range(60)
        ]
    )
    forecasts = pl.DataFrame(
        [
            {
                "product_id": p,
                "store_id": s,
                "target_date": LAST + timedelta(days=h),
                "horizon": h,
                "p10": 10.0 * i + h - 2,
                "p50": 10.0 * i + h + 0.25,
                "p90": 10.0 * i + h + 3,
                "method": "model" if i < 2 else "fallback",
            }
            for i, (p, s, _, _) in enumerate(SERIES)
            for h in range(1, HORIZON + 1)
        ]
    )
    series = pl.DataFrame(SERIES, schema=["product_id", "store_id", "category", "name"], orient="row")
    backtest = pl.DataFrame(  # p1 only: y 10 and 0 against p50 8 and 1, WAPE 3 / 10
        {
            "product_id": ["p1", "p1"],
            "store_id": ["s1", "s1"],
            "period_date": [date(2025, 3, 1), date(2025, 3, 2)],
            "origin": [date(2025, 2, 28)] * 2,
            "y": [10.0, 0.0],
            "p10": [5.0, 0.0],
            "p50": [8.0, 1.0],
            "p90": [12.0, 2.0],
            "seasonal_naive": [6.0, 0.0],
            "mase_scale": [2.0, 2.0],
        }
    )
    return history, forecasts, series, backtest


def _section(page: str, label: str) -> str:
    match = re.search(rf'<section [^>]*data-series="{re.escape(label)}".*?</section>', page, re.S)
    assert match, f"no section for {label}"
    return match.group(0)


def test_report_has_every_series_with_its_numbers_and_backtest_error():
    history, forecasts, series, backtest = _frames()
    page = forecast_report_html(
        forecasts, history, series, group_metrics(backtest, ["product_id", "store_id"]), "F"
    )
    assert page.count("<section ") == len(SERIES)
    assert page.count("<svg ") == len(SERIES)
    p1 = _section(page, "p1 @ s1")
    assert 'data-search="p1 s1 dairy milk"' in p1
    for h in range(1, HORIZON + 1):  # the numbers table: every horizon's p50
        assert f'<td class="num">{h + 0.25:.3f}</td>' in p1
    assert "WAPE 0.300" in p1 and "seasonal naive WAPE 0.400" in p1
    assert "no backtest error" in _section(page, "p3 @ s2")
    assert "<script>alert(1)</script>" not in page.split("<script>")[0]  # a name is text, never markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'id="q"' in page and "dataset.search" in page  # the search box and its filter
    # largest forecast first: p3 (fallback, highest level) leads the overview and the sections
    assert page.index('data-series="p3 @ s2"') < page.index('data-series="p1 @ s1"')
    assert "methods: fallback: 1, model: 2" in page


def _points(svg: str, css_class: str) -> list[tuple[float, float]]:
    raw = re.search(rf'<polyline class="{css_class}" points="([^"]+)"', svg).group(1)
    return [tuple(map(float, p.split(","))) for p in raw.split()]


def test_svg_places_the_p50_after_the_history_and_higher_values_higher():
    history, forecasts, *_ = _frames()
    one = forecasts.filter(pl.col("product_id") == "p1")
    band = one.select(pl.col("target_date").alias("period_date"), "p10", "p50", "p90")
    past = history.filter(pl.col("product_id") == "p1").select("period_date", "y")
    svg = series_svg(past.sort("period_date"), band, "p1 @ s1")
    p50 = _points(svg, "p50")
    assert len(p50) == HORIZON
    xs, ys = zip(*p50, strict=True)
    assert list(xs) == sorted(xs) and list(ys) == sorted(ys, reverse=True)  # rising p50: y pixels fall
    actual = _points(svg, "actual")
    assert len(actual) == past.height and actual[-1][0] < xs[0]  # the history ends where the band starts
    assert (
        f">{past['period_date'].min()}</text>" in svg and f">{LAST + timedelta(days=HORIZON)}</text>" in svg
    )


def test_svg_leaves_out_missing_periods():
    """A missing period near the end of the history (units null: its row was refused) is left out of
    the line; it crashed the forecasts asset with a TypeError."""
    history, forecasts, *_ = _frames()
    band = forecasts.filter(pl.col("product_id") == "p1").select(
        pl.col("target_date").alias("period_date"), "p10", "p50", "p90"
    )
    past = history.filter(pl.col("product_id") == "p1").select("period_date", "y").sort("period_date")
    gap = past.with_columns(
        pl.when(pl.int_range(pl.len()) == pl.len() - 2).then(None).otherwise("y").alias("y")
    )
    assert len(_points(series_svg(gap, band, "p1 @ s1"), "actual")) == past.height - 1


def test_preview_and_method_mix_are_rounded_summaries():
    history, forecasts, series, _ = _frames()
    preview = preview_table(forecasts, series, n=2)
    assert preview["product_id"].to_list() == ["p3", "p2"]
    assert preview.row(0, named=True)["p50 total"] == round(sum(20 + h + 0.25 for h in range(1, 6)), 2)
    mix = method_mix(forecasts)
    assert dict(mix.select("method", "series").iter_rows()) == {"fallback": 1, "model": 2}


def test_pngs_decode_at_their_size():
    history, forecasts, *_ = _frames()
    one = forecasts.filter(pl.col("product_id") == "p1")
    single = matplotlib.image.imread(
        BytesIO(series_png(history.filter(pl.col("product_id") == "p1"), one, "p1"))
    )
    assert single.shape[:2] == (300, 800)
    panels = matplotlib.image.imread(BytesIO(top_series_png(forecasts, history, n=2)))
    assert panels.shape[:2] == (440, 900)
    assert shown_periods(HORIZON) == 28


def test_a_generation_without_rows_says_so():
    history, forecasts, series, backtest = _frames()
    shown = forecast_presentation(forecasts.clear(), history, series, backtest, "F")
    assert shown.files == {} and shown.text == {"date_range": "no forecasts: no series is active"}
