"""How monitoring results become things people look at: PNGs, markdown tables and images.

Pure functions (frames and figures in, str/bytes out, no Dagster, MLflow or file I/O) so assets, run
logging and tests share one renderer. Figures use ``matplotlib.figure.Figure`` directly (no pyplot, no
global backend) at a fixed dpi and fixed margins (no tight_layout): a 30-feature drift page stays well
under 2 s and PNG pixel sizes are predictable.
"""

import base64
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
    """A markdown table, floats to three decimals."""
    head = "| " + " | ".join(table.columns) + " |\n|" + "---|" * table.width + "\n"
    body = "".join(
        "| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row) + " |\n"
        for row in table.iter_rows()
    )
    return head + body


def markdown_image(name: str, content: bytes) -> str:
    """A PNG inlined as a markdown image (a data URI): shown where no file can be linked."""
    return f"![{name}](data:image/png;base64,{base64.b64encode(content).decode()})"
