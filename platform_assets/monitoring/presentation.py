"""What the `forecasts` and `trained_model` assets show people: the report files they publish (under
$SHELFCAST_HOME/reports and into MLflow) and the markdown the Dagster UI renders, composed from the
tables of quality_tables.py and the renderers of forecast_report.py / forecast_plots.py."""

import html
from dataclasses import dataclass

import polars as pl

from platform_assets.core.keys import KEYS
from platform_assets.core.levels import band_columns, levels_in
from platform_assets.monitoring.forecast_plots import top_series_png
from platform_assets.monitoring.forecast_report import (
    forecast_report_html,
    method_mix,
    preview_table,
    series_svg,
)
from platform_assets.monitoring.quality_tables import (
    breakdown,
    comparison,
    group_metrics,
    intermittency_note,
    segment_coverage_table,
    worst_series,
)
from platform_assets.monitoring.rendering import html_page, html_table, markdown_image, markdown_table
from platform_assets.storage.warehouse import Warehouse

FORECAST_REPORT, TOP_SERIES_PNG, QUALITY_REPORT = (
    "forecast_report.html",
    "top_series.png",
    "model_quality.html",
)


@dataclass(frozen=True)
class Presentation:
    files: dict[str, bytes]  # the report files to publish
    markdown: dict[str, str]  # metadata entries the Dagster UI renders as markdown
    text: dict[str, str]  # short metadata entries


def series_attributes(warehouse: Warehouse) -> pl.DataFrame:
    """Every series with its category and product name: what a reader searches by."""
    return warehouse.query(
        "select s.product_id, s.store_id, s.category, p.name from marts.dim_series s"
        " left join marts.dim_product p using (product_id) order by s.product_id, s.store_id"
    )


def model_backtest(warehouse: Warehouse, version: int | str) -> pl.DataFrame | None:
    """The backtest rows of a registered version, None when there are none."""
    if not warehouse.table_exists("ml", "backtest_predictions"):
        return None
    rows = warehouse.query("select * from ml.backtest_predictions where model_version = ?", [str(version)])
    return rows if rows.height else None


def forecast_presentation(
    rows: pl.DataFrame, history: pl.DataFrame, series: pl.DataFrame, backtest: pl.DataFrame | None, title: str
) -> Presentation:
    """A generation's report (from its `marts.forecasts` rows: every series, searchable, with its
    backtest error), its top series as a PNG, a rounded preview, the method mix and the date range.
    A generation without rows (no active series) has nothing to draw: it says so."""
    if rows.is_empty():
        return Presentation(files={}, markdown={}, text={"date_range": "no forecasts: no series is active"})
    errors = (
        group_metrics(backtest, KEYS)
        if backtest is not None
        else pl.DataFrame(schema={k: pl.String for k in KEYS})
    )
    first, last, horizon = rows["target_date"].min(), rows["target_date"].max(), int(rows["horizon"].max())
    subtitle = (
        f"model version {rows['model_version'][0]}, generated {rows['generated_at'].max():%Y-%m-%d %H:%M} UTC"
    )
    page = forecast_report_html(rows, history, series, errors, title, subtitle)
    top = top_series_png(rows, history)
    return Presentation(
        files={FORECAST_REPORT: page.encode(), TOP_SERIES_PNG: top},
        markdown={
            "preview": markdown_table(preview_table(rows, series)),
            "method_mix": markdown_table(method_mix(rows)),
            "top_series": markdown_image(TOP_SERIES_PNG, top),
        },
        text={"date_range": f"{first} .. {last} ({horizon} periods)"},
    )


def _backtest_chart(backtest: pl.DataFrame, product: str, store: str) -> str:
    """The series' newest backtest origin: its band and p50 against what then sold, after the actuals
    of the earlier backtest windows."""
    one = backtest.filter((pl.col("product_id") == product) & (pl.col("store_id") == store))
    last = one.filter(pl.col("origin") == one["origin"].max()).sort("period_date")
    past = (
        one.filter(pl.col("period_date") < last["period_date"].min())
        .unique("period_date")
        .sort("period_date")
    )
    return series_svg(
        past.select("period_date", "y"),
        last.select("period_date", *band_columns(levels_in(last.columns))),
        f"{product} @ {store}: newest backtest window",
        actual=last.select("period_date", "y"),
    )


def model_presentation(
    metrics: dict[str, float], backtest: pl.DataFrame, series: pl.DataFrame, title: str
) -> Presentation:
    """The model against its baselines, by category and store, its 10 worst series and, on intermittent
    data, why sMAPE misleads; as markdown and as a self-contained page with the worst series drawn."""
    tables = {
        "comparison": comparison(metrics),
        "by_category": breakdown(backtest, series, "category"),
        "by_store": breakdown(backtest, series, "store_id"),
        "coverage_by_segment": segment_coverage_table(metrics),
        "worst_series": worst_series(backtest, series),
    }
    note = intermittency_note(backtest, metrics)
    charts = "".join(
        f"<h3>{html.escape(p)} \u00b7 {html.escape(s)}</h3>{_backtest_chart(backtest, p, s)}"
        for p, s in tables["worst_series"].select(KEYS).iter_rows()
    )
    body = (
        f"<h1>{html.escape(title)}</h1>"
        '<p class="caption">Backtest on rolling origins; the overall table averages the origins, the '
        "breakdowns pool them. Coverage at a level is the share of actuals inside its band (p10-p90 for "
        "80%: nominal 0.8), measured on the newest origin with bands calibrated on the earlier ones.</p>"
        f"<h2>Model against its baselines</h2>{html_table(tables['comparison'])}"
        + (f'<p class="note">{html.escape(note)}</p>' if note else "")
        + "<h2>Interval coverage by demand segment (newest origin; bands calibrated per segment)</h2>"
        f"{html_table(tables['coverage_by_segment'])}"
        + f"<h2>By category</h2>{html_table(tables['by_category'])}"
        f"<h2>By store</h2>{html_table(tables['by_store'])}"
        "<h2>The 10 worst series (highest MASE)</h2>"
        f"{html_table(tables['worst_series'])}{charts}"
    )
    return Presentation(
        files={QUALITY_REPORT: html_page(title, body).encode()},
        # The Dagster UI shows markdown under 1,000 characters in place: the note is a text entry of its own.
        markdown={("quality" if k == "comparison" else k): markdown_table(v) for k, v in tables.items()},
        text={"sMAPE_note": note} if note else {},
    )
