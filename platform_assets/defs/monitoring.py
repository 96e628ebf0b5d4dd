"""Monitoring layer: feature and target drift, persisted so its history can be queried and plotted."""

from datetime import UTC, datetime

import dagster as dg
import polars as pl

from platform_assets.defs.features import feature_config
from platform_assets.defs.ingest import WAREHOUSE_POOL
from platform_assets.monitoring.drift import DriftConfig, dataset_drift, feature_drift
from platform_assets.monitoring.windows import drift_windows, monitored_columns, with_scaled_target
from platform_assets.resources import ShelfcastConfig
from platform_assets.warehouse import DuckDBWarehouse


@dg.asset(
    group_name="monitoring",
    deps=["training_features"],
    kinds={"polars", "duckdb"},
    pool=WAREHOUSE_POOL,
    check_specs=[dg.AssetCheckSpec("dataset_drift", asset="drift_scores")],
)
def drift_scores(context: dg.AssetExecutionContext, config: ShelfcastConfig, warehouse: DuckDBWarehouse):
    """Every model feature and the target, newest window against the window before it; one row per
    feature per evaluation in `monitoring.drift_scores`."""
    features = warehouse.query(
        "select * from features.training_features order by product_id, store_id, period_date"
    )
    window = max(config.drift_window, 2 * config.horizon)
    reference, current, bounds = drift_windows(with_scaled_target(features), window)
    cfg = DriftConfig(drift_share=config.drift_share)
    scores = feature_drift(reference, current, monitored_columns(features, feature_config(config)), cfg)
    summary = dataset_drift(scores, cfg)
    stamped = scores.with_columns(
        pl.lit(context.run_id).alias("evaluation_id"),
        pl.lit(datetime.now(UTC).replace(tzinfo=None), pl.Datetime("us")).alias("evaluated_at"),
        *(pl.lit(v).alias(k) for k, v in bounds.items()),
    )
    warehouse.replace_slice("monitoring", "drift_scores", stamped, {"evaluation_id": context.run_id})
    drifted = scores.filter(pl.col("drifted")).sort("score", descending=True)["feature"].to_list()
    # The target is watched on its own too: a demand shift matters even when few features move.
    target_drift = "y" in drifted or "y_scaled" in drifted
    meta = {
        **{k: v for k, v in summary.items()},
        **{k: str(v) for k, v in bounds.items()},
        "drifted": drifted,
    }
    yield dg.MaterializeResult(
        metadata={k: dg.MetadataValue.json(v) if isinstance(v, list) else v for k, v in meta.items()}
    )
    yield dg.AssetCheckResult(
        passed=summary["dataset_drift"] is False and not target_drift,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{summary['n_drifted']} of {summary['n_features']} monitored columns drifted "
        f"(dataset drift at a share >= {cfg.drift_share:.0%}); target drifted: {target_drift}",
        metadata={
            "share_drifted": summary["share_drifted"],
            "target_drift": target_drift,
            "drifted": drifted,
        },
    )


def build_monitoring_defs() -> dg.Definitions:
    return dg.Definitions(assets=[drift_scores])
