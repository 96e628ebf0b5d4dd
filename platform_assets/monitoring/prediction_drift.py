"""Prediction drift: the newest generation's p50 (model rows) against the p50 the same version produced
on its newest backtest window. The model's outputs moving is drift the inputs' checks can miss."""

from dataclasses import dataclass

import polars as pl

from platform_assets.monitoring.drift import DriftConfig, feature_drift
from platform_assets.storage.warehouse import Warehouse

# The newest generation's model rows of one version.
_NEWEST = """select product_id, store_id, p50 from marts.forecasts
    where method = 'model' and model_version = ?
      and generated_at = (select max(generated_at) from marts.forecasts)"""


def predictions(warehouse: Warehouse, version: str | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(reference, current) p50 of model `version` as one `prediction` column.

    The reference is its newest backtest origin only: the window nearest to now, and after a retrain on
    changed data the one that already shows the change (older origins would keep the alarm ringing).
    Same series on both sides: discontinued series sit in the backtest but are no longer forecast."""
    current = warehouse.query(f"select p50 as prediction from ({_NEWEST}) as c", [version])
    reference = warehouse.query(
        f"""select b.p50 as prediction from ml.backtest_predictions as b
            where b.model_version = ?
              and b.origin = (select max(origin) from ml.backtest_predictions where model_version = ?)
              and exists (select 1 from ({_NEWEST}) as c
                          where c.product_id = b.product_id and c.store_id = b.store_id)""",
        [version, version, version],
    )
    return reference, current


@dataclass(frozen=True)
class PredictionDrift:
    n_reference: int
    n_current: int
    scores: pl.DataFrame | None  # one row for the `prediction` column; None when a side is empty


def evaluate_prediction_drift(warehouse: Warehouse, version: str | None) -> PredictionDrift:
    """The p50 of model `version` scored at the default drift thresholds."""
    reference, current = predictions(warehouse, version)
    if reference.is_empty() or current.is_empty():
        return PredictionDrift(reference.height, current.height, None)
    scores = feature_drift(reference, current, ["prediction"], DriftConfig())
    return PredictionDrift(reference.height, current.height, scores)
