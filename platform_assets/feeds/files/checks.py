"""The landing contract's tables and row checks: what each file must hold, and why a row is refused.

Duplicates of a (date, product_id, store_id) key among otherwise valid rows: the first (by file name,
then line) is kept; a later row with the same values is a "duplicate", with other values a
"conflicting duplicate". Catalog keys are required and unique (the first occurrence wins).
"""

import polars as pl

from platform_assets.core.schemas import DEFAULT_STORE, conform
from platform_assets.feeds import contract as c
from platform_assets.feeds.base import FeedResult, UnreadableFile

OBSERVATION_COLUMNS = ("date", "product_id", "store_id", "price", "units_sold", "on_promo")
OBSERVATION_REQUIRED = ("date", "product_id")
PRODUCT_COLUMNS = ("product_id", "name", "category", "brand", "supplier_id")
SUPPLIER_COLUMNS = ("supplier_id", "name", "country")
OBSERVATION_KEY = ["date", "product_id", "store_id"]


def validate_observations(rows: pl.DataFrame, known_products: pl.Series) -> pl.DataFrame:
    """Typed observation rows with `_reason` (null when accepted) and `_window` (the usable date or null).

    A record the reader could only partly read is rejected for that (`_error`) alone. In a landing zone
    whose rows name stores, a row without one (a blank cell, or a file without the column) is
    rejected: it would become a phantom "all" series."""
    day = c.iso_date("date")
    checks = _observation_reasons(day, known_products)
    typed = rows.with_columns(
        day.alias("_day"), pl.coalesce(pl.col("_error"), checks).alias("_reason")
    ).with_columns(
        pl.col("_day").alias("date"),
        c.clean("product_id").alias("product_id"),
        c.clean("store_id").fill_null(DEFAULT_STORE).alias("store_id"),
        c.number("price").alias("price"),
        c.number("units_sold").alias("units_sold"),
        c.boolean("on_promo").alias("on_promo"),
        pl.when(c.in_date_range(pl.col("_day"))).then(pl.col("_day")).alias("_window"),
        *_series_keys(known_products),
    )
    return _mark_duplicates(typed).drop("_day")


def _series_keys(known_products: pl.Series) -> list[pl.Expr]:
    """`_key_product` and `_key_store`: the series a row concerns as far as it can be told, kept on a
    refused row so its period reads as missing rather than as no sales. An id that is a catalog id
    but for case ('p0001') concerns that product; a row without a store in a zone whose rows name
    stores concerns no series that can be named."""
    text = c.clean("product_id")
    folded: dict[str, list[str]] = {}
    for known in known_products.to_list():
        folded.setdefault(known.lower(), []).append(known)
    unique = {low: ids[0] for low, ids in folded.items() if len(ids) == 1}
    product = (
        pl.when(text.is_in(known_products.implode()))
        .then(text)
        .otherwise(text.str.to_lowercase().replace_strict(unique, default=text, return_dtype=pl.String))
    )
    store = c.clean("store_id")
    named = pl.when(store.is_not_null() | store.is_null().all()).then(store.fill_null(DEFAULT_STORE))
    return [product.alias("_key_product"), named.alias("_key_store")]


def _observation_reasons(day: pl.Expr, known_products: pl.Series) -> pl.Expr:
    """Every contract rule an observation row breaks, on its text values."""
    price, units = c.number("price"), c.number("units_sold")
    return c.reasons(
        [
            (c.clean("product_id").is_null(), "missing product_id"),
            (
                c.clean("store_id").is_null() & c.clean("store_id").is_not_null().any(),
                "missing store_id (other rows name stores)",
            ),
            (c.clean("date").is_null(), "missing date"),
            (c.clean("date").is_not_null() & day.is_null(), "unparseable date"),
            (day.is_not_null() & ~c.in_date_range(day), "date out of range"),
            (c.not_a_number("price"), "non-numeric price"),
            (price < 0, "negative price"),
            (c.not_a_number("units_sold"), "non-numeric units_sold"),
            (units < 0, "negative units_sold"),
            (c.bad_boolean("on_promo"), "bad on_promo value"),
            (
                c.clean("price").is_null() & c.clean("units_sold").is_null(),
                "missing both price and units_sold",
            ),
            (
                c.clean("product_id").is_not_null() & ~c.clean("product_id").is_in(known_products.implode()),
                "unknown product",
            ),
        ]
    )


def _mark_duplicates(typed: pl.DataFrame) -> pl.DataFrame:
    """Valid rows repeating an earlier valid row's key become "duplicate" or "conflicting duplicate"."""
    valid = pl.col("_reason").is_null()
    group = [*OBSERVATION_KEY, pl.col("_reason").is_null()]
    same = pl.all_horizontal(
        pl.col(col).eq_missing(pl.col(col).first().over(group)) for col in ("price", "units_sold", "on_promo")
    )
    repeat = valid & (pl.int_range(pl.len()).over(group) > 0)
    return typed.with_columns(
        pl.when(repeat & same)
        .then(pl.lit("duplicate"))
        .when(repeat)
        .then(pl.lit("conflicting duplicate (date, product_id, store_id)"))
        .otherwise(pl.col("_reason"))
        .alias("_reason")
    )


def catalog_result(
    rows: pl.DataFrame,
    key: str,
    schema: dict[str, pl.DataType],
    source: str,
    unreadable: tuple[UnreadableFile, ...],
) -> FeedResult:
    """Products or suppliers: the key is required and unique (the first occurrence wins)."""
    checked = rows.with_columns(
        pl.coalesce(
            pl.col("_error"),
            c.reasons(
                [
                    (pl.col(key).is_null(), f"missing {key}"),
                    (pl.col(key).is_not_null() & (pl.int_range(pl.len()).over(key) > 0), f"duplicate {key}"),
                ]
            ),
        ).alias("reason")
    )
    accepted = checked.filter(pl.col("reason").is_null()).rename(
        {"_file": "source_file", "_line": "source_line"}
    )
    rejected = checked.filter(pl.col("reason").is_not_null()).rename(
        {"_file": "file", "_line": "line", "_record": "record"}
    )
    return FeedResult(
        conform(accepted, schema).sort(key, maintain_order=True),
        c.rejected_rows(rejected, source),
        rows.height,
        unreadable,
    )


def attribute_values(rows: pl.DataFrame, columns: list[str]) -> list[pl.Expr]:
    """Extra product columns for the attributes JSON: a column whose every value is a number becomes
    JSON numbers (integers where all are whole), so features can use it; any other column stays text."""
    exprs = []
    for col in columns:
        text, value = rows.select(c.clean(col)).to_series(), rows.select(c.number(col)).to_series()
        if text.null_count() == text.len() or value.null_count() != text.null_count():
            exprs.append(c.clean(col).alias(col))
            continue
        whole = (value.drop_nulls() == value.drop_nulls().round()).all()
        exprs.append(c.number(col).cast(pl.Int64 if whole else pl.Float64).alias(col))
    return exprs


def untargeted_files(rows: pl.DataFrame, columns: dict[str, tuple[str, ...]], target: str) -> dict[str, str]:
    """Files without the target column dated within the history -> why they cannot be used.

    `rows`: validated (`validate_observations`). A file without the target is a plan (future prices,
    promotions) only if all its dates come after the last accepted actual of the other files;
    otherwise it is history missing its target (a renamed column): accepted, its periods would look
    observed with no sales."""
    lacking = [name for name, cols in columns.items() if target not in cols]
    if not lacking:
        return {}
    actual = ~pl.col("_file").is_in(lacking) & pl.col("_reason").is_null() & pl.col(target).is_not_null()
    last = rows.filter(actual)["_window"].max()
    if last is None:
        return {}
    firsts = (
        rows.filter(pl.col("_file").is_in(lacking) & pl.col("_window").is_not_null())
        .group_by("_file")
        .agg(pl.col("_window").min().alias("first"))
    )
    return {
        name: f"no {target} column (found: {', '.join(columns[name])}), yet dated from {first} within "
        f"the history (actuals until {last}): a file of actuals needs {target}; a plan only later dates"
        for name, first in firsts.sort("_file").iter_rows()
        if first <= last
    }
