"""Monitoring layer: feature, target and prediction drift and accuracy decay, persisted so their
history can be queried and plotted; the checks here are what the retrain sensor watches.

SciPy, matplotlib and MLflow are imported inside the bodies: loading the code location stays fast."""

import base64
from datetime import UTC, datetime
from typing import NamedTuple

import dagster as dg
import polars as pl

from platform_assets.config.resources import MLflowResource, ShelfcastConfig
from platform_assets.defs.features import feature_config
from platform_assets.monitoring import accuracy
from platform_assets.monitoring.windows import monitored_columns, split_windows, window_bounds
from platform_assets.storage.warehouse import WAREHOUSE_POOL, Warehouse, ident

# The failing checks that start a retrain (see sensors.py).
RETRAIN_TRIGGERS = (
    dg.AssetCheckKey(dg.AssetKey("drift_scores"), "dataset_drift"),
    dg.AssetCheckKey(dg.AssetKey("forecasts"), "prediction_drift"),
    dg.AssetCheckKey(dg.AssetKey("forecast_accuracy"), "accuracy_decay"),
)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _persist(warehouse: Warehouse, scores: pl.DataFrame, scope: str, evaluation_id: str, extra: dict):
    """One row per monitored column per evaluation in `monitoring.drift_scores`; re-runs replace."""
    stamped = scores.with_columns(
        pl.lit(scope).alias("scope"),
        pl.lit(evaluation_id).alias("evaluation_id"),
        pl.lit(_now(), pl.Datetime("us")).alias("evaluated_at"),
        *(pl.lit(v).alias(k) for k, v in extra.items()),
    )
    warehouse.replace_slice(
        "monitoring", "drift_scores", stamped, {"evaluation_id": evaluation_id, "scope": scope}
    )


def _publish(
    config: ShelfcastConfig,
    mlflow: MLflowResource,
    kind: str,
    evaluation_id: str,
    files: dict[str, bytes],
    champion: "Champion",
) -> dict[str, dg.MetadataValue]:
    """Write a report under $SHELFCAST_HOME/reports/<kind>/<evaluation>/ and log it to the champion's
    MLflow run (next to the model it concerns); the PNG is inlined so the Dagster UI shows it."""
    from platform_assets.modeling.registry import log_report

    folder = config.reports_dir / kind / evaluation_id
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(content)
    meta: dict[str, dg.MetadataValue] = {"report_dir": dg.MetadataValue.path(str(folder))}
    if champion.run_id is not None:
        artifact_path = f"monitoring/{kind}/{evaluation_id}"
        log_report(mlflow.tracking_uri, champion.run_id, files, artifact_path)
        meta["mlflow_artifacts"] = dg.MetadataValue.text(f"runs:/{champion.run_id}/{artifact_path}")
    for name, content in files.items():
        if name.endswith(".png"):
            inline = f"![{name}](data:image/png;base64,{base64.b64encode(content).decode()})"
            meta[name.removesuffix(".png")] = dg.MetadataValue.md(inline)
    return meta


class Champion(NamedTuple):
    """The champion's version, the newest period it was trained on and its MLflow run (all None without
    one). Looked up once per step: each MLflow registry call builds a client (~0.7 s on SQLite)."""

    version: str | None
    trained_until: object
    run_id: str | None


def _champion(warehouse: Warehouse, mlflow: MLflowResource) -> Champion:
    from platform_assets.modeling.registry import CHAMPION, alias_version

    champion = alias_version(mlflow.tracking_uri, CHAMPION)
    if champion is None:
        return Champion(None, None, None)
    if not warehouse.table_exists("ml", "backtest_predictions"):
        return Champion(None, None, champion[1])  # reports still go to its run, as before
    trained_until = warehouse.query(
        "select max(period_date) from ml.backtest_predictions where model_version = ?", [champion[0]]
    ).item()
    return Champion(champion[0], trained_until, champion[1])


@dg.asset(
    group_name="monitoring",
    deps=["training_features"],
    kinds={"polars", "duckdb"},
    pool=WAREHOUSE_POOL,
    check_specs=[dg.AssetCheckSpec("dataset_drift", asset="drift_scores")],
)
def drift_scores(
    context: dg.AssetExecutionContext,
    config: ShelfcastConfig,
    warehouse: Warehouse,
    mlflow: MLflowResource,
):
    """Every model feature and the target, the newest window against the champion's newest training
    window; one row per column per evaluation in `monitoring.drift_scores`."""
    from platform_assets.monitoring import reports
    from platform_assets.monitoring.drift import DriftConfig, dataset_drift, feature_drift

    # Only the two windows' rows and the monitored columns are read, not the whole table.
    table = "features.training_features"
    periods = warehouse.query(f"select distinct period_date from {table} where y is not null")["period_date"]
    champion = _champion(warehouse, mlflow)
    version, trained_until = champion.version, champion.trained_until
    window = max(config.monitoring.drift_window, 2 * config.forecasting.horizon)
    bounds = window_bounds(periods, window, trained_until)
    columns = monitored_columns(warehouse.query(f"select * from {table} limit 0"), feature_config(config))
    rows = warehouse.query(
        f"select period_date, {', '.join(ident(c) for c in columns)} from {table}"
        " where period_date between ? and ? or period_date between ? and ?"
        " order by product_id, store_id, period_date",
        [bounds[k] for k in ("reference_start", "reference_end", "current_start", "current_end")],
    )
    reference, current = split_windows(rows, bounds)
    cfg = DriftConfig(drift_share=config.monitoring.drift_share)
    scores = feature_drift(reference, current, columns, cfg)
    summary = dataset_drift(scores, cfg)
    _persist(warehouse, scores, "features", context.run_id, {**bounds, "model_version": version})
    drifted = scores.filter(pl.col("drifted")).sort("score", descending=True)["feature"].to_list()
    title = (
        f"Drift: {bounds['current_start']}..{bounds['current_end']} against "
        f"{bounds['reference_start']}..{bounds['reference_end']} (champion v{version})"
    )
    report = _publish(
        config,
        mlflow,
        "drift",
        context.run_id,
        {
            "drift_report.html": reports.drift_report_html(reference, current, scores, title).encode(),
            "drift_summary.png": reports.drift_summary_png(scores),
        },
        champion,
    )
    # The target is watched on its own too: a demand shift matters even when few features move.
    target_drift = "y" in drifted
    yield dg.MaterializeResult(
        metadata={
            **{k: v for k, v in summary.items()},
            **{k: str(v) for k, v in bounds.items()},
            "champion_version": str(version),
            "drifted": dg.MetadataValue.json(drifted),
            **report,
        }
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
            "reference": f"{bounds['reference_start']}..{bounds['reference_end']}",
            "current": f"{bounds['current_start']}..{bounds['current_end']}",
        },
    )


@dg.asset_check(
    asset="forecasts",
    description="New forecasts against the champion's backtest predictions",
    pool=WAREHOUSE_POOL,
)
def prediction_drift(
    context: dg.AssetCheckExecutionContext, warehouse: Warehouse, mlflow: MLflowResource
) -> dg.AssetCheckResult:
    """The newest generation's p50 (model rows) against the p50 the same version produced on its
    newest backtest window: the model's outputs moving is drift the inputs' checks can miss."""
    from platform_assets.monitoring.drift import DriftConfig, feature_drift

    version = _champion(warehouse, mlflow).version
    # Its newest backtest origin only: the window nearest to now, and after a retrain on changed data
    # the one that already shows the change (older origins would keep the alarm ringing).
    current_rows = """select product_id, store_id, p50 from marts.forecasts
        where method = 'model' and model_version = ?
          and generated_at = (select max(generated_at) from marts.forecasts)"""
    current = warehouse.query(f"select p50 as prediction from ({current_rows}) as c", [version])
    # Same series on both sides: discontinued series sit in the backtest but are no longer forecast.
    reference = warehouse.query(
        f"""select b.p50 as prediction from ml.backtest_predictions as b
            where b.model_version = ?
              and b.origin = (select max(origin) from ml.backtest_predictions where model_version = ?)
              and exists (select 1 from ({current_rows}) as c
                          where c.product_id = b.product_id and c.store_id = b.store_id)""",
        [version, version, version],
    )
    if reference.is_empty() or current.is_empty():
        return dg.AssetCheckResult(
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"nothing to compare: {reference.height} backtest and {current.height} new "
            f"predictions of champion v{version}",
        )
    scores = feature_drift(reference, current, ["prediction"], DriftConfig())
    _persist(warehouse, scores, "prediction", context.run.run_id, {"model_version": version})
    row = scores.row(0, named=True)
    return dg.AssetCheckResult(
        passed=not row["drifted"],
        severity=dg.AssetCheckSeverity.WARN,
        description=f"p50 of champion v{version}: {row['method']} {row['score']:.4f} "
        f"(threshold {row['threshold']:g}) over {row['n_current']} new vs {row['n_reference']} backtest",
        metadata={k: row[k] for k in ("method", "score", "threshold", "n_reference", "n_current")},
    )


@dg.asset_check(
    asset="forecast_accuracy",
    description="Live WAPE against the champion's backtest WAPE",
    pool=WAREHOUSE_POOL,
)
def accuracy_decay(
    context: dg.AssetCheckExecutionContext,
    config: ShelfcastConfig,
    warehouse: Warehouse,
    mlflow: MLflowResource,
) -> dg.AssetCheckResult:
    """Fails when the champion's forecasts, scored on the newest drift window of actuals, are worse
    than its backtest by more than SHELFCAST_DECAY_FACTOR."""
    from platform_assets.monitoring import reports

    champion = _champion(warehouse, mlflow)
    version = champion.version
    rows = accuracy.recent_accuracy(
        warehouse.query("select * from monitoring.forecast_accuracy order by generation_id, horizon"),
        str(version),
        config.monitoring.drift_window,
    )
    verdict = accuracy.decay(rows, config.monitoring.decay_factor)
    table = accuracy.by_horizon(rows) if not rows.is_empty() else None
    plot = {}
    if table is not None:
        png = reports.accuracy_by_horizon_png(table)
        files = {"accuracy_by_horizon.png": png}
        plot = _publish(config, mlflow, "accuracy", context.run.run_id, files, champion)
    return dg.AssetCheckResult(
        passed=verdict.passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=verdict.description,
        metadata={
            **verdict.metadata,
            "champion_version": str(version),
            **({"by_horizon": dg.MetadataValue.md(_markdown(table))} if table is not None else {}),
            **plot,
        },
    )


def _markdown(table: pl.DataFrame) -> str:
    head = "| " + " | ".join(table.columns) + " |\n|" + "---|" * table.width + "\n"
    body = "".join(
        "| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row) + " |\n"
        for row in table.iter_rows()
    )
    return head + body


def build_monitoring_defs() -> dg.Definitions:
    return dg.Definitions(assets=[drift_scores], asset_checks=[prediction_drift, accuracy_decay])
