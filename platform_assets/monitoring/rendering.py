"""How monitoring results become things people look at: PNGs, markdown tables and images.

Pure functions (frames and figures in, str/bytes out, no Dagster, MLflow or file I/O) so assets, run
logging and tests share one renderer. Figures use ``matplotlib.figure.Figure`` directly (no pyplot, no
global backend) at a fixed dpi and fixed margins (no tight_layout): a 30-feature drift page stays well
under 2 s and PNG pixel sizes are predictable.
"""

import base64
import html
from io import BytesIO
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:  # the markdown helpers serve the Dagster definitions, which load without matplotlib
    from matplotlib.figure import Figure

DPI = 100
REFERENCE_COLOR, CURRENT_COLOR = "tab:blue", "tab:orange"


def png(fig: "Figure") -> bytes:
    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def markdown_table(table: pl.DataFrame) -> str:
    """A markdown table, floats to three decimals, missing values as an em dash."""

    def cell(v: object) -> str:
        if v is None or (isinstance(v, float) and v != v):
            return "\u2014"
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    head = "| " + " | ".join(table.columns) + " |\n|" + "---|" * table.width + "\n"
    body = "".join("| " + " | ".join(cell(v) for v in row) + " |\n" for row in table.iter_rows())
    return head + body


def markdown_image(name: str, content: bytes) -> str:
    """A PNG inlined as a markdown image (a data URI): shown where no file can be linked."""
    return f"![{name}](data:image/png;base64,{base64.b64encode(content).decode()})"


# The stylesheet of the HTML reports that are tables and small charts (forecasts, model quality).
PAGE_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem;color:#222;max-width:72rem}
h1{margin-bottom:.3rem}
table{border-collapse:collapse;font-size:.85rem;margin:.8rem 0}
th,td{padding:.2rem .55rem;border-bottom:1px solid #ddd;text-align:left}
th{background:#f4f4f4}
td.num{text-align:right;font-variant-numeric:tabular-nums}
section{margin-top:1.2rem;border-top:1px solid #eee;content-visibility:auto;contain-intrinsic-size:auto 260px}
.caption{color:#555;font-size:.85rem}
.note{color:#8a5300}
input[type=search]{font-size:1rem;padding:.35rem .6rem;width:28rem;max-width:100%}
svg text{font-size:10px;fill:#555}
"""


def html_cell(value: object) -> str:
    """A table cell: floats to three decimals and right-aligned, missing values as an em dash."""
    if value is None or (isinstance(value, float) and value != value):
        return '<td class="num">\u2014</td>'
    if isinstance(value, float | int) and not isinstance(value, bool):
        text = f"{value:.3f}" if isinstance(value, float) else f"{value:,}"
        return f'<td class="num">{text}</td>'
    return f"<td>{html.escape(str(value))}</td>"


def html_table(table: pl.DataFrame, row_attrs: list[str] | None = None) -> str:
    """An HTML table of a frame; `row_attrs` (one per row) are put into each `<tr>` as they are."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    attrs = row_attrs or [""] * table.height
    body = "".join(
        f"<tr{(' ' + extra) if extra else ''}>{''.join(html_cell(v) for v in row)}</tr>"
        for row, extra in zip(table.iter_rows(), attrs, strict=True)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_page(title: str, body: str, script: str = "") -> str:
    """A self-contained page (inline CSS and script): opens offline, e.g. as an MLflow artifact."""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{PAGE_CSS}</style></head><body>{body}"
        f"{f'<script>{script}</script>' if script else ''}</body></html>"
    )
