"""Monitoring layer: feature, target and prediction drift and accuracy decay, persisted so their
history can be queried and plotted; the checks here are what the retrain sensor watches.

SciPy, matplotlib and MLflow are imported inside the bodies: loading the code location stays fast."""

from typing import TYPE_CHECKING

import dagster as dg

from platform_assets.config.resources import MLflowResource, ShelfcastConfig
from platform_assets.defs.features import feature_config
from platform_assets.defs.retries import SERVER_RETRY
from platform_assets.monitoring.drift import P_VALUE_METHODS
from platform_assets.monitoring.rendering import markdown_image, markdown_table
from platform_assets.monitoring.windows import ShortHistory
from platform_assets.storage.warehouse import WAREHOUSE_KIND, WAREHOUSE_POOL, Warehouse

if TYPE_CHECKING:  # publish.py imports MLflow
    from platform_assets.monitoring.publish import Report

# The failing checks that start a retrain (see retraining.py).
RETRAIN_TRIGGERS = (
    dg.AssetCheckKey(dg.AssetKey("drift_scores"), "dataset_drift"),
    dg.AssetCheckKey(dg.AssetKey("forecasts"), "prediction_drift"),
    dg.AssetCheckKey(dg.AssetKey("forecast_accuracy"), "accuracy_decay"),
)


def _report_metadata(report: "Report") -> dict[str, dg.MetadataValue]:
    """Where the report is, and its PNGs inlined so the Dagster UI shows them."""
    meta: dict[str, dg.MetadataValue] = {"report_dir": dg.MetadataValue.path(str(report.folder))}
    if report.artifact_uri is not None:
        meta["mlflow_artifacts"] = dg.MetadataValue.text(report.artifact_uri)
    for name, content in report.files.items():
        if name.endswith(".png"):
            meta[name.removesuffix(".png")] = dg.MetadataValue.md(markdown_image(name, content))
    return meta


@dg.asset(
    group_name="monitoring",
    deps=["training_features"],
    kinds={"polars", WAREHOUSE_KIND},
    pool=WAREHOUSE_POOL,
    retry_policy=SERVER_RETRY,
    check_specs=[
        dg.AssetCheckSpec(
            "dataset_drift",
            asset="drift_scores",
            description="Whether at least SHELFCAST_DRIFT_SHARE of the monitored features drifted between "
            "the newest window and the champion's training data; a failure may start a retrain",
        )
    ],
)
def drift_scores(
    context: dg.AssetExecutionContext,
    config: ShelfcastConfig,
    warehouse: Warehouse,
    mlflow: MLflowResource,
):
    """Every model feature and the target, the newest window against the champion's newest training
    window; one row per column per evaluation in `monitoring.drift_scores`."""
    from platform_assets.monitoring.feature_drift import drift_report_files, evaluate_feature_drift
    from platform_assets.monitoring.publish import champion_of, persist_scores, publish_report

    champion = champion_of(warehouse, mlflow.tracking_uri)
    try:
        drift = evaluate_feature_drift(
            warehouse,
            feature_config(config),
            config.monitoring.drift_window,
            config.monitoring.drift_share,
            champion,
        )
    except ShortHistory as short:  # a history shorter than two windows: nothing to judge yet
        context.log.warning(str(short))
        yield dg.MaterializeResult(metadata={"not_judged": str(short)})
        yield dg.AssetCheckResult(passed=True, severity=dg.AssetCheckSeverity.WARN, description=str(short))
        return
    bounds, summary, drifted = drift.bounds, drift.summary, drift.drifted
    persist_scores(
        warehouse,
        drift.scores,
        "features",
        context.run_id,
        {**bounds, "model_version": drift.champion_version},
    )
    files = drift_report_files(drift)
    report = publish_report(config.reports_dir, mlflow.tracking_uri, "drift", context.run_id, files, champion)
    yield dg.MaterializeResult(
        metadata={
            **{k: v for k, v in summary.items()},
            **{k: str(v) for k, v in bounds.items()},
            "champion_version": str(drift.champion_version),
            "drifted": dg.MetadataValue.json(drifted),
            **_report_metadata(report),
        }
    )
    yield dg.AssetCheckResult(
        passed=summary["dataset_drift"] is False and not drift.target_drift,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{summary['n_drifted']} of {summary['n_features']} monitored columns drifted "
        f"(dataset drift at a share >= {drift.drift_share:.0%}); target drifted: {drift.target_drift}",
        metadata={
            "share_drifted": summary["share_drifted"],
            "target_drift": drift.target_drift,
            "drifted": drifted,
            "reference": f"{bounds['reference_start']}..{bounds['reference_end']}",
            "current": f"{bounds['current_start']}..{bounds['current_end']}",
        },
    )


@dg.asset_check(
    asset="forecasts",
    description="New forecasts against the champion's backtest predictions",
    pool=WAREHOUSE_POOL,
    retry_policy=SERVER_RETRY,
)
def prediction_drift(
    context: dg.AssetCheckExecutionContext, warehouse: Warehouse, mlflow: MLflowResource
) -> dg.AssetCheckResult:
    """The newest generation's p50 (model rows) against the p50 the same version produced on its
    newest backtest window: the model's outputs moving is drift the inputs' checks can miss."""
    from platform_assets.monitoring.prediction_drift import evaluate_prediction_drift
    from platform_assets.monitoring.publish import champion_of, persist_scores

    version = champion_of(warehouse, mlflow.tracking_uri).version
    drift = evaluate_prediction_drift(warehouse, version)
    if drift.scores is None:
        return dg.AssetCheckResult(
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"nothing to compare: {drift.n_reference} backtest and {drift.n_current} new "
            f"predictions of champion v{version}",
        )
    persist_scores(warehouse, drift.scores, "prediction", context.run.run_id, {"model_version": version})
    row = drift.scores.row(0, named=True)
    return dg.AssetCheckResult(
        passed=not row["drifted"],
        severity=dg.AssetCheckSeverity.WARN,
        description=f"p50 of champion v{version}: {_score_text(row)} over {row['n_current']} new vs "
        f"{row['n_reference']} backtest",
        metadata={k: row[k] for k in ("method", "score", "threshold", "n_reference", "n_current")},
    )


def _score_text(row: dict) -> str:
    """A drift score with the side of its threshold that means drift (a p-value drifts below it)."""
    if row["method"] in P_VALUE_METHODS:
        return f"{row['method']} p-value {row['score']:.4f} (drift below {row['threshold']:g})"
    return f"{row['method']} {row['score']:.4f} (drift at {row['threshold']:g} or above)"


@dg.asset_check(
    asset="forecast_accuracy",
    description="Live WAPE against the champion's backtest WAPE",
    pool=WAREHOUSE_POOL,
    retry_policy=SERVER_RETRY,
)
def accuracy_decay(
    context: dg.AssetCheckExecutionContext,
    config: ShelfcastConfig,
    warehouse: Warehouse,
    mlflow: MLflowResource,
) -> dg.AssetCheckResult:
    """Fails when the champion's forecasts, scored on the newest drift window of actuals, are worse
    than its backtest by more than SHELFCAST_DECAY_FACTOR."""
    from platform_assets.monitoring.accuracy import evaluate_decay
    from platform_assets.monitoring.accuracy_report import accuracy_by_horizon_png
    from platform_assets.monitoring.publish import champion_of, publish_report

    champion = champion_of(warehouse, mlflow.tracking_uri)
    version = champion.version
    decay = evaluate_decay(
        warehouse, str(version), config.monitoring.drift_window, config.monitoring.decay_factor
    )
    table, plot = decay.by_horizon, {}
    if table is not None:
        files = {"accuracy_by_horizon.png": accuracy_by_horizon_png(table)}
        report = publish_report(
            config.reports_dir, mlflow.tracking_uri, "accuracy", context.run.run_id, files, champion
        )
        plot = _report_metadata(report)
    return dg.AssetCheckResult(
        passed=decay.verdict.passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=decay.verdict.description,
        metadata={
            **decay.verdict.metadata,
            "champion_version": str(version),
            **({"by_horizon": dg.MetadataValue.md(markdown_table(table))} if table is not None else {}),
            **plot,
        },
    )


def build_monitoring_defs() -> dg.Definitions:
    return dg.Definitions(assets=[drift_scores], asset_checks=[prediction_drift, accuracy_decay])
