"""Product attributes as features: the catalog's numeric JSON attributes, one `attr_<name>` column each.

A catalog column may be called anything (`weight (kg)`, `Größe`), but a feature's name is a column in
the warehouse, a LightGBM feature and a drift statistic's key. So `<name>` is the key with every run
of characters outside A-Z, a-z, 0-9 and `_` replaced by one `_` (leading and trailing `_` dropped;
`attribute` if nothing is left): `weight (kg)` -> `attr_weight_kg`. Keys that clean to the same name
get `_2`, `_3`, ... in the order of their original keys, so a name is stable for a given catalog.
"""

import json
import re

import polars as pl

# Column prefix of the attribute features: which attributes there are depends on the catalog, so the
# model's list of them is read from a built frame's columns (`columns.feature_columns`).
PREFIX = "attr_"
MAX_NUMERIC_ATTRIBUTES = 20
_UNSAFE = re.compile(r"[^0-9A-Za-z_]+")


def attribute_names(keys: list[str]) -> dict[str, str]:
    """Each attribute key (in sorted order) -> its feature column name, safe and unique."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for key in sorted(keys):
        base = f"{PREFIX}{_UNSAFE.sub('_', key).strip('_') or 'attribute'}"
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        names[key] = name
    return names


def numeric_attributes(products: pl.DataFrame) -> pl.DataFrame:
    """product_id plus one Float64 `attr_<name>` column per JSON key whose values are all numbers."""
    records = [json.loads(a) if a else {} for a in products["attributes"].to_list()]
    numeric: dict[str, list[float | None]] = {}
    names = attribute_names(list({k for r in records if isinstance(r, dict) for k in r}))
    for key, name in names.items():
        values = [r.get(key) if isinstance(r, dict) else None for r in records]
        present = [v for v in values if v is not None]
        if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
            numeric[name] = [None if v is None else float(v) for v in values]
    chosen = dict(list(numeric.items())[:MAX_NUMERIC_ATTRIBUTES])
    return pl.DataFrame({"product_id": products["product_id"], **chosen}).with_columns(
        pl.col(c).cast(pl.Float64) for c in chosen
    )


def is_attribute(column: str) -> bool:
    return column.startswith(PREFIX)


def attribute_columns(columns: list[str]) -> list[str]:
    """The attribute features among a frame's `columns`, in the model's order."""
    return sorted(c for c in columns if is_attribute(c))
