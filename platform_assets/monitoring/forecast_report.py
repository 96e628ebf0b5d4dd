"""Forecasts people can look at: each series' recent history with its future bands (p10-p90 and each
other configured level, the widest lightest) and p50, as
a searchable self-contained HTML page (every series of a generation, inline SVG charts: thousands of
series render in seconds, without matplotlib) and as PNGs (the top series for the Dagster UI, one
series on demand for the CLI).

Pure: frames in, str/bytes out. Frames: `history` (keys, period_date, y), `forecasts` (keys,
target_date, horizon, the quantile columns of core/levels.py, method), `series` (keys, optional
category and name), `errors` (keys and the backtest metrics of `quality_tables.group_metrics`).
"""

import html
from datetime import date

import polars as pl

from platform_assets.core.keys import KEYS
from platform_assets.core.levels import band_columns, bounds, levels_in
from platform_assets.monitoring.quality_tables import COVERAGE_80
from platform_assets.monitoring.rendering import html_page, html_table

BAND_COLOR, HISTORY_COLOR = "#1f77b4", "#222222"
# Each band is drawn over the wider ones at this opacity: the widest is the lightest, the 80% band the
# darkest, whatever the levels.
BAND_OPACITY = 0.15
_W, _H, _LEFT, _RIGHT, _TOP, _BOTTOM = 760, 170, 44, 12, 10, 22
_ERROR_COLUMNS = ["WAPE", "MASE", COVERAGE_80, "seasonal naive WAPE"]
_SEARCH_SCRIPT = """
const q=document.getElementById('q'),shown=document.getElementById('shown');
const items=[...document.querySelectorAll('[data-search]')];
function apply(){const terms=q.value.toLowerCase().split(/\\s+/).filter(Boolean);let n=0;
for(const el of items){const ok=terms.every(t=>el.dataset.search.includes(t));el.hidden=!ok;
if(ok&&el.tagName==='SECTION')n++;}shown.textContent=n;}
q.value=new URLSearchParams(location.search).get('q')||'';q.addEventListener('input',apply);apply();
"""


def top_series(forecasts: pl.DataFrame, n: int | None = None) -> pl.DataFrame:
    """Series keys by forecast volume (sum of p50 over the horizon), largest first, ties by key."""
    ranked = (
        forecasts.group_by(KEYS)
        .agg(pl.col("p50").sum().alias("p50_total"))
        .sort(["p50_total", *KEYS], descending=[True, False, False])
    )
    return ranked if n is None else ranked.head(n)


def shown_periods(horizon: int) -> int:
    """Periods of history worth drawing before a forecast of `horizon` periods: enough to see the level
    and a weekly pattern, few enough that the forecast is not a sliver at the edge."""
    return max(4 * horizon, 28)


def recent(history: pl.DataFrame, horizon: int) -> pl.DataFrame:
    """The newest `shown_periods` of each series."""
    keep = shown_periods(horizon)
    return history.sort([*KEYS, "period_date"]).group_by(KEYS, maintain_order=True).tail(keep)


def bands_widest_first(frame: pl.DataFrame) -> list[tuple[float, str, str]]:
    """(level, lower, upper) of every band `frame` carries, the widest first: the drawing order."""
    return [(v, *bounds(v)) for v in sorted(levels_in(frame.columns), reverse=True)]


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def series_svg(past: pl.DataFrame, band: pl.DataFrame, label: str, actual: pl.DataFrame | None = None) -> str:
    """History (period_date, y) as a line, the bands (period_date, quantile columns) as shaded areas,
    the widest lightest, with the p50 line, `actual` values inside the band's window as dots; a dashed
    line marks the first forecast period. Periods whose value is missing (units unknown, not 0) are
    left out of the line and the dots."""
    past = past.filter(pl.col("y").is_not_null())
    actual = actual.filter(pl.col("y").is_not_null()) if actual is not None else None
    parts = [past["period_date"], band["period_date"]] + (
        [actual["period_date"]] if actual is not None else []
    )
    dates = pl.concat(parts).unique().sort().to_list()
    levels = bands_widest_first(band)
    widest = [band[levels[0][1]], band[levels[0][2]]] if levels else []
    values = pl.concat([past["y"], *widest] + ([actual["y"]] if actual is not None else []))
    low, high = min(0.0, values.min() or 0.0), max(values.max() or 0.0, 0.0)
    high = high if high > low else low + 1.0
    first, span = dates[0].toordinal(), max(dates[-1].toordinal() - dates[0].toordinal(), 1)
    width, height = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def x(d: date) -> float:
        return _LEFT + (d.toordinal() - first) / span * width

    def y(v: float) -> float:
        return _TOP + height * (1 - (v - low) / (high - low))

    def points(ds: list[date], vs: list[float]) -> str:
        return " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in zip(ds, vs, strict=True))

    bd = band["period_date"].to_list()
    shapes = [
        f'<line x1="{_LEFT}" y1="{y(low):.1f}" x2="{_W - _RIGHT}" y2="{y(low):.1f}" stroke="#bbb"/>',
        *(
            f'<polygon points="{points(bd + bd[::-1], band[hi].to_list() + band[lo].to_list()[::-1])}" '
            f'fill="{BAND_COLOR}" fill-opacity="{BAND_OPACITY}" stroke="none"><title>{level:g}%: {lo}-{hi}'
            "</title></polygon>"
            for level, lo, hi in levels
        ),
        f'<polyline class="actual" points="{points(past["period_date"].to_list(), past["y"].to_list())}" '
        f'fill="none" stroke="{HISTORY_COLOR}" stroke-width="1"><title>actual</title></polyline>',
        f'<polyline class="p50" points="{points(bd, band["p50"].to_list())}" fill="none" '
        f'stroke="{BAND_COLOR}" stroke-width="1.8"><title>p50</title></polyline>',
    ]
    if bd:
        shapes.append(
            f'<line x1="{x(bd[0]):.1f}" y1="{_TOP}" x2="{x(bd[0]):.1f}" y2="{_TOP + height}" stroke="#888" '
            'stroke-dasharray="3,3"/>'
        )
    if actual is not None:
        shapes += [
            f'<circle cx="{x(d):.1f}" cy="{y(v):.1f}" r="2" fill="{HISTORY_COLOR}"/>'
            for d, v in actual.select("period_date", "y").iter_rows()
        ]
    labels = [
        f'<text x="{_LEFT - 4}" y="{y(high) + 8:.1f}" text-anchor="end">{_fmt(high)}</text>',
        f'<text x="{_LEFT - 4}" y="{y(low):.1f}" text-anchor="end">{_fmt(low)}</text>',
        f'<text x="{_LEFT}" y="{_H - 6}">{dates[0]}</text>',
        f'<text x="{_W - _RIGHT}" y="{_H - 6}" text-anchor="end">{dates[-1]}</text>',
    ]
    if bd and min(x(bd[0]) - _LEFT, _W - _RIGHT - x(bd[0])) > 70:  # else it would overprint an end label
        labels.append(f'<text x="{x(bd[0]):.1f}" y="{_H - 6}" text-anchor="middle">{bd[0]}</text>')
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" '
        f'role="img"><title>{html.escape(label)}</title>{"".join(shapes)}{"".join(labels)}</svg>'
    )


def _band(forecast: pl.DataFrame) -> pl.DataFrame:
    return forecast.sort("horizon").select(
        pl.col("target_date").alias("period_date"), *band_columns(levels_in(forecast.columns))
    )


def _overview(forecasts: pl.DataFrame, series: pl.DataFrame, errors: pl.DataFrame) -> pl.DataFrame:
    """One row per series in report order: attributes, method, forecast total and backtest error."""
    totals = top_series(forecasts).with_row_index("rank")
    method = forecasts.group_by(KEYS).agg(pl.col("method").first())
    attrs = [c for c in ("category", "name") if c in series.columns]
    kept = [c for c in _ERROR_COLUMNS if c in errors.columns]
    return (
        totals.join(series.select(*KEYS, *attrs).unique(KEYS), on=KEYS, how="left")
        .join(method, on=KEYS, how="left")
        .join(errors.select(*KEYS, *kept), on=KEYS, how="left")
        .sort("rank")
        .select(*KEYS, *attrs, "method", pl.col("p50_total").round(3), *kept)
    )


def _error_text(row: dict) -> str:
    if row.get("WAPE") is None:
        return "no backtest error: the series was not in the model's backtest"
    nan = float("nan")
    text = (
        f"backtest error of this series: WAPE {row['WAPE']:.3f}, MASE {row.get('MASE') or nan:.3f}, "
        f"p10-p90 coverage {row.get(COVERAGE_80) or nan:.2f}"
    )
    naive = row.get("seasonal naive WAPE")
    return text + (f" (seasonal naive WAPE {naive:.3f})" if naive is not None else "")


def _section(index: int, row: dict, forecast: pl.DataFrame, past: pl.DataFrame, horizon: int) -> str:
    product, store = row["product_id"], row["store_id"]
    extra = " \u00b7 ".join(str(row[c]) for c in ("category", "name") if row.get(c))
    caption = (
        f"method {row['method']} \u00b7 p50 total over the next {horizon} periods {row['p50_total']:,.3f}"
        f" \u00b7 {_error_text(row)}"
    )
    band = band_columns(levels_in(forecast.columns))
    numbers = html_table(forecast.sort("horizon").select("target_date", "horizon", *band))
    search = " ".join(str(v) for v in (product, store, row.get("category"), row.get("name")) if v).lower()
    label = f"{product} @ {store}"
    return (
        f'<section id="s{index}" data-search="{html.escape(search)}" data-series="{html.escape(label)}">'
        f"<h2>{html.escape(product)} \u00b7 {html.escape(store)} "
        f'<span class="caption">{html.escape(extra)}</span></h2>'
        f'<p class="caption">{html.escape(caption)}</p>{series_svg(past, _band(forecast), label)}'
        f"<details><summary>forecast numbers</summary>{numbers}</details></section>"
    )


def forecast_report_html(
    forecasts: pl.DataFrame,
    history: pl.DataFrame,
    series: pl.DataFrame,
    errors: pl.DataFrame,
    title: str,
    subtitle: str = "",
) -> str:
    """Every series of a generation, largest forecast first: an overview table and a chart per series
    (history, bands, p50), filtered as you type a product, store, category or name."""
    overview = _overview(forecasts, series, errors)
    horizon = int(forecasts["horizon"].max() or 0)
    by_series = {k: f for k, f in forecasts.partition_by(KEYS, as_dict=True).items()}
    past_of = {k: f for k, f in recent(history, horizon).partition_by(KEYS, as_dict=True).items()}
    empty = history.clear()
    sections, attrs = [], []
    for index, row in enumerate(overview.iter_rows(named=True)):
        key = (row["product_id"], row["store_id"])
        sections.append(_section(index, row, by_series[key], past_of.get(key, empty), horizon))
        search = " ".join(str(v) for v in (*key, row.get("category"), row.get("name")) if v).lower()
        attrs.append(f'data-search="{html.escape(search)}" onclick="location.hash=\'s{index}\'"')
    dates = forecasts["target_date"]
    mix = ", ".join(f"{m}: {n}" for m, n in overview.group_by("method").len().sort("method").iter_rows())
    shaded = ", ".join(f"{lo}-{hi} ({level:g}%)" for level, lo, hi in bands_widest_first(forecasts))
    header = (
        f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p>"
        f'<p class="caption">{overview.height} series, {dates.min()} .. {dates.max()} ({horizon} periods); '
        f"methods: {html.escape(mix)}. The shaded bands are {shaded} (the widest lightest), the blue line "
        "p50, the black line the actuals; the dashed line marks the first forecast period.</p>"
        '<p><input type="search" id="q" placeholder="search: product, store, category or name" '
        'aria-label="search series"> <span id="shown"></span> series shown</p></header>'
    )
    return html_page(title, header + html_table(overview, attrs) + "".join(sections), _SEARCH_SCRIPT)


def preview_table(forecasts: pl.DataFrame, series: pl.DataFrame, n: int = 10) -> pl.DataFrame:
    """The `n` largest series: the first period's band and the horizon's p50 total, rounded."""
    first = forecasts.filter(pl.col("horizon") == pl.col("horizon").min())
    attrs = [c for c in ("category",) if c in series.columns]
    band = band_columns(levels_in(forecasts.columns))
    return (
        top_series(forecasts, n)
        .join(series.select(*KEYS, *attrs).unique(KEYS), on=KEYS, how="left")
        .join(first.select(*KEYS, "target_date", *band, "method"), on=KEYS, how="left")
        .select(*KEYS, *attrs, "method", "target_date", *band, pl.col("p50_total").alias("p50 total"))
        .with_columns(pl.col(pl.Float64).round(2))
    )


def method_mix(forecasts: pl.DataFrame) -> pl.DataFrame:
    """Series per forecasting method and their share."""
    per = forecasts.group_by(KEYS).agg(pl.col("method").first()).group_by("method").len("series")
    return per.with_columns((pl.col("series") / pl.col("series").sum()).round(3).alias("share")).sort(
        "method"
    )
