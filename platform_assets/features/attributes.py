"""Product attributes as features: the catalog's numeric JSON attributes, one `attr_<key>` column each."""

import json

import polars as pl

# Column prefix of the attribute features: which attributes there are depends on the catalog, so the
# model's list of them is read from a built frame's columns (`columns.feature_columns`).
PREFIX = "attr_"
MAX_NUMERIC_ATTRIBUTES = 20


def numeric_attributes(products: pl.DataFrame) -> pl.DataFrame:
    """product_id plus one Float64 `attr_<key>` column per JSON key whose values are all numbers."""
    records = [json.loads(a) if a else {} for a in products["attributes"].to_list()]
    numeric: dict[str, list[float | None]] = {}
    for key in sorted({k for r in records if isinstance(r, dict) for k in r}):
        values = [r.get(key) if isinstance(r, dict) else None for r in records]
        present = [v for v in values if v is not None]
        if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
            numeric[f"{PREFIX}{key}"] = [None if v is None else float(v) for v in values]
    chosen = dict(list(numeric.items())[:MAX_NUMERIC_ATTRIBUTES])
    return pl.DataFrame({"product_id": products["product_id"], **chosen}).with_columns(
        pl.col(c).cast(pl.Float64) for c in chosen
    )


def is_attribute(column: str) -> bool:
    return column.startswith(PREFIX)


def attribute_columns(columns: list[str]) -> list[str]:
    """The attribute features among a frame's `columns`, in the model's order."""
    return sorted(c for c in columns if is_attribute(c))
