"""The drift report people look at: a self-contained HTML page (every monitored column's reference
and current distributions) and a one-chart summary of drift strength, rendered from the scores frame.

Feature names and category labels are drawn with ``parse_math=False`` so a ``$`` in user data can never
make mathtext fail at render time. Rendering conventions: rendering.py.
"""

from __future__ import annotations

import base64
import html
import math

import numpy as np
import polars as pl
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from platform_assets.monitoring.drift import P_VALUE_METHODS, dataset_drift
from platform_assets.monitoring.rendering import CURRENT_COLOR, REFERENCE_COLOR, png

_SAMPLE_SEED = 17  # any fixed seed: the same frames always give the same pictures
_BINS = 40
_TOP_CATEGORIES = 20
_LABEL_CHARS = 28
_STRENGTH_RANGE = (1e-2, 1e2)  # plot limits only; a p-value of 0 or a huge PSI is drawn at the edge
_DRIFTED_COLOR, _STABLE_COLOR = "tab:red", "tab:gray"

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem;color:#222;max-width:70rem}
h1{margin-bottom:.3rem}
.counts{font-size:1.1rem}
.drift{color:#b3261e;font-weight:600}
table{border-collapse:collapse;font-size:.9rem;margin:1rem 0}
th,td{padding:.25rem .6rem;border-bottom:1px solid #ddd;text-align:left}
th{background:#f4f4f4}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.drifted td{background:#fdecea}
section{margin-top:1.5rem;border-top:1px solid #eee}
.caption{color:#555;font-size:.85rem}
.note{color:#8a5300}
img{max-width:100%}
"""


def _strength() -> pl.Expr:
    """Score relative to its threshold, oriented so > 1 always means drift (p-values drift when small)."""
    p_value = pl.col("method").is_in(list(P_VALUE_METHODS))
    ratio = (
        pl.when(p_value)
        .then(pl.col("threshold") / pl.col("score"))
        .otherwise(pl.col("score") / pl.col("threshold"))
    )
    return ratio.alias("strength")


def _ordered(scores: pl.DataFrame) -> pl.DataFrame:
    """Drifted first, then strongest drift first; raw scores of mixed methods do not sort meaningfully."""
    return scores.with_columns(_strength()).sort(
        ["drifted", "strength", "feature"], descending=[True, True, False], nulls_last=True
    )


def _margins(fig: Figure, left: float, bottom: float, top: float, right: float = 0.25) -> None:
    """Fixed margins in inches: cheaper than tight_layout and keeps the pixel size exactly figsize * dpi."""
    width, height = fig.get_size_inches()
    fig.subplots_adjust(
        left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height
    )


def _legend_on_top(ax) -> None:
    """Legend above the plot: never hides bars, and skips the slow ``loc="best"`` search."""
    ax.legend(fontsize=7, frameon=False, loc="lower left", bbox_to_anchor=(0, 1), ncols=2, borderaxespad=0.2)


def _short(label: str) -> str:
    return label if len(label) <= _LABEL_CHARS else label[: _LABEL_CHARS - 1] + "\u2026"


def _fmt(value: float | int | None, spec: str = ".4g") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return format(value, spec)


def _sample(frame: pl.DataFrame, columns: list[str], max_rows: int) -> pl.DataFrame:
    """At most ``max_rows`` rows, seeded: plots are for the eye, 50k rows already show the shape."""
    frame = frame.select([c for c in columns if c in frame.columns])
    return frame.sample(n=max_rows, seed=_SAMPLE_SEED) if frame.height > max_rows else frame


def _plot_values(frame: pl.DataFrame, name: str, kind: str) -> pl.Series | None:
    """Non-null values to plot (finite floats for numeric, strings for categorical); None if no column."""
    if name not in frame.columns:
        return None
    values = frame[name].drop_nulls()
    if kind == "numeric":
        values = values.cast(pl.Float64, strict=False).drop_nulls()
        return values.filter(values.is_finite())
    return values.cast(pl.String)


def _no_plot_reason(ref: pl.Series | None, cur: pl.Series | None) -> str | None:
    missing = [label for label, s in (("reference", ref), ("current", cur)) if s is None]
    if missing:
        return f"column missing from {' and '.join(missing)}: nothing to plot"
    empty = [label for label, s in (("reference", ref), ("current", cur)) if s.len() == 0]
    if empty:
        return f"no non-null values in {' and '.join(empty)}: nothing to plot"
    return None


def _numeric_figure(ref: np.ndarray, cur: np.ndarray) -> Figure:
    """Densities on shared bins over the pooled 1st-99th percentile, so outliers do not flatten the shape."""
    lo, hi = np.percentile(np.concatenate((ref, cur)), [1, 99])
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, _BINS + 1)
    fig = Figure(figsize=(6.4, 2.6))
    ax = fig.subplots()
    for values, label, color in ((ref, "reference", REFERENCE_COLOR), (cur, "current", CURRENT_COLOR)):
        counts, _ = np.histogram(values, bins=edges)
        inside = counts.sum()
        density = counts / (inside * np.diff(edges)) if inside else np.zeros(_BINS)
        outside = 1 - inside / values.size
        legend = f"{label} (n={values.size:,}" + (
            f", {outside:.0%} outside range)" if outside > 0.05 else ")"
        )
        ax.stairs(
            density, edges, fill=label == "reference", alpha=0.8, color=color, linewidth=1.5, label=legend
        )
    ax.set_xlabel("value (pooled 1st-99th percentile range)", fontsize=8)
    ax.set_ylabel("density", fontsize=8)
    ax.set_yticks([])  # the shapes are what matter; unlabelled density ticks only cost render time
    ax.xaxis.set_major_locator(MaxNLocator(6))
    ax.tick_params(labelsize=7)
    _legend_on_top(ax)
    _margins(fig, left=0.7, bottom=0.5, top=0.3)
    return fig


def _shares(values: pl.Series, label: str) -> pl.DataFrame:
    counts = values.rename("value").to_frame().group_by("value").agg(pl.len().alias(label))
    return counts.with_columns(pl.col(label) / values.len())


def _categorical_figure(ref: pl.Series, cur: pl.Series) -> Figure:
    """Side-by-side category shares, the most common categories (both frames pooled) at the top."""
    shares = (
        _shares(ref, "reference")
        .join(_shares(cur, "current"), on="value", how="full", coalesce=True)
        .fill_null(0.0)
        .with_columns((pl.col("reference") + pl.col("current")).alias("pooled"))
        .sort(["pooled", "value"], descending=[True, False])
    )
    top = shares.head(_TOP_CATEGORIES)
    fig = Figure(figsize=(6.4, 0.2 * top.height + 1.0))
    ax = fig.subplots()
    y = np.arange(top.height)
    ax.barh(y - 0.2, top["reference"].to_numpy(), height=0.4, color=REFERENCE_COLOR, label="reference")
    ax.barh(y + 0.2, top["current"].to_numpy(), height=0.4, color=CURRENT_COLOR, label="current")
    ax.set_yticks(y, [_short(v) for v in top["value"]], parse_math=False, fontsize=7)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.tick_params(axis="x", labelsize=7)
    shown = f"top {top.height} of {shares.height} categories" if shares.height > top.height else "categories"
    ax.set_xlabel(f"share of non-null rows ({shown})", fontsize=8)
    _legend_on_top(ax)
    _margins(fig, left=1.9, bottom=0.45, top=0.3)
    return fig


def _feature_section(index: int, row: dict, ref: pl.DataFrame, cur: pl.DataFrame) -> str:
    name, kind = row["feature"], row["kind"]
    ref_v, cur_v = _plot_values(ref, name, kind), _plot_values(cur, name, kind)
    reason = _no_plot_reason(ref_v, cur_v)
    if reason:
        body = f'<p class="note">{html.escape(reason)}</p>'
    else:
        fig = (
            _numeric_figure(ref_v.to_numpy(), cur_v.to_numpy())
            if kind == "numeric"
            else _categorical_figure(ref_v, cur_v)
        )
        data = base64.b64encode(png(fig)).decode("ascii")
        body = f'<img src="data:image/png;base64,{data}" alt="{html.escape(name)} distribution">'
    verdict = {True: '<span class="drift">drifted</span>', False: "no drift", None: "undecided"}
    caption = (
        f"{html.escape(str(kind))} &middot; {html.escape(str(row['method']))} score "
        f"{_fmt(row['score'])} vs threshold {_fmt(row['threshold'])} &middot; {verdict[row['drifted']]}"
        f" &middot; n reference {_fmt(row['n_reference'], ',')}, n current {_fmt(row['n_current'], ',')}"
        f" &middot; null share (current) {_fmt(row['null_share_current'], '.1%')}"
    )
    note = f'<p class="note">{html.escape(row["note"])}</p>' if row["note"] else ""
    return (
        f'<section id="feature-{index}"><h2>{html.escape(name)}</h2>'
        f'<p class="caption">{caption}</p>{note}{body}</section>'
    )


def _summary_table(ordered: pl.DataFrame) -> str:
    rows = []
    for index, row in enumerate(ordered.iter_rows(named=True)):
        drifted = {True: "yes", False: "no", None: "n/a"}[row["drifted"]]
        cells = [
            f'<td><a href="#feature-{index}">{html.escape(row["feature"])}</a></td>',
            f"<td>{html.escape(str(row['kind']))}</td>",
            f"<td>{html.escape(str(row['method']))}</td>",
            f'<td class="num">{_fmt(row["score"])}</td>',
            f'<td class="num">{_fmt(row["threshold"])}</td>',
            f"<td>{drifted}</td>",
            f"<td>{html.escape(row['note'] or '')}</td>",
        ]
        rows.append(f'<tr class="{"drifted" if row["drifted"] else ""}">{"".join(cells)}</tr>')
    head = "".join(
        f"<th>{h}</th>" for h in ("feature", "kind", "method", "score", "threshold", "drifted", "note")
    )
    return f'<table class="summary"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _counts_line(scores: pl.DataFrame) -> str:
    counts = dataset_drift(scores)
    line = (
        f"{counts['n_drifted']} of {counts['n_features']} features drifted "
        f"(dataset drift share {counts['share_drifted']:.1%})"
    )
    if counts["n_undecided"]:
        line += f"; {counts['n_undecided']} without data"
    return line


def drift_report_html(
    reference: pl.DataFrame, current: pl.DataFrame, scores: pl.DataFrame, title: str, max_rows: int = 50_000
) -> str:
    """A self-contained HTML page (inline CSS, PNGs as data URIs): opens offline, e.g. as a run artifact.

    ``scores`` is the frame from :func:`~platform_assets.monitoring.drift.feature_drift`; its ``kind``
    picks the plot (numeric densities or category shares). Each frame is sampled (seeded) to at most
    ``max_rows`` rows for plotting only; the verdicts shown are the ones in ``scores``.
    """
    if max_rows < 1:
        raise ValueError(f"max_rows must be >= 1, got {max_rows}")
    ordered = _ordered(scores)
    features = ordered["feature"].to_list()
    ref, cur = _sample(reference, features, max_rows), _sample(current, features, max_rows)
    sections = [_feature_section(i, row, ref, cur) for i, row in enumerate(ordered.iter_rows(named=True))]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{html.escape(title)}</h1>"
        f'<p class="counts">{html.escape(_counts_line(scores))}</p>'
        f'<p class="caption">Plots use at most {max_rows:,} rows per frame (seeded sample) and ignore nulls; '
        "the table is sorted drifted first, then by drift strength (score relative to threshold).</p>"
        f"</header>{_summary_table(ordered)}{''.join(sections)}</body></html>"
    )


def drift_summary_png(scores: pl.DataFrame) -> bytes:
    """Drift strength per feature: one log axis for every method, bars from 1, > 1 means drifted.

    Strength is score / threshold for distances and threshold / p-value for p-value tests (which drift
    when small), clipped to [0.01, 100]; bar colour follows the ``drifted`` verdict itself.
    Features without a score (no data) are counted in the title but not drawn.
    """
    plotted = _ordered(scores).filter(pl.col("strength").is_not_null()).reverse()  # strongest on top
    fig = Figure(figsize=(7, 0.25 * max(plotted.height, 1) + 1.2))
    ax = fig.subplots()
    if plotted.height:
        y = np.arange(plotted.height)
        strength = plotted["strength"].clip(*_STRENGTH_RANGE).to_numpy()
        colors = [_DRIFTED_COLOR if d else _STABLE_COLOR for d in plotted["drifted"]]
        ax.barh(y, strength - 1, left=1, color=colors, height=0.7)
        ax.scatter(strength, y, c=colors, s=10, zorder=3)  # keeps a strength of ~1 visible
        ax.set_yticks(y, [_short(f) for f in plotted["feature"]], parse_math=False, fontsize=7)
        ax.set_ylim(-0.6, plotted.height - 0.4)
    else:
        ax.set_yticks([])
        ax.text(0.5, 0.5, "no feature has a score", ha="center", va="center", transform=ax.transAxes)
    ax.set_xscale("log")
    ax.set_xlim(*_STRENGTH_RANGE)
    ax.axvline(1, color="black", linewidth=1)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_xlabel("drift strength: score / threshold (threshold / p-value for p-value tests)", fontsize=8)
    ax.set_title(_counts_line(scores), fontsize=9, parse_math=False)
    _margins(fig, left=2.0, bottom=0.5, top=0.35)
    return png(fig)
