"""The reference profile of the model's numeric inputs: per feature, the distribution the champion was
trained on most recently, for live monitoring to compare served inputs with (quantiles, mean, spread,
share of nulls), computed once per bundle."""

import polars as pl

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
PROFILE_SCHEMA = {
    "feature": pl.String,
    "rows": pl.Int64,
    "null_share": pl.Float64,
    "mean": pl.Float64,
    "std": pl.Float64,
    "min": pl.Float64,
    **{f"q{round(q * 100):02d}": pl.Float64 for q in QUANTILES},
    "max": pl.Float64,
}


def feature_profile(reference: pl.DataFrame, features: list[str]) -> pl.DataFrame:
    """One row per feature of `features` (numeric columns of `reference`)."""
    rows = []
    for name in features:
        values = reference[name].cast(pl.Float64)
        present = values.drop_nulls().drop_nans()
        stats = {
            "mean": present.mean(),
            "std": present.std(),
            "min": present.min(),
            **{f"q{round(q * 100):02d}": present.quantile(q, "linear") for q in QUANTILES},
            "max": present.max(),
        }
        null_share = 1 - present.len() / values.len() if values.len() else None
        rows.append({"feature": name, "rows": values.len(), "null_share": null_share, **stats})
    return pl.DataFrame(rows, schema=PROFILE_SCHEMA)
