"""ML layer: train a challenger, gate it against the champion, forecast only from the champion.

MLflow and LightGBM are imported inside the asset bodies: every run worker and `dagster dev` loads
this module, and only the steps that train or forecast should pay for them.
"""

import dagster as dg
import polars as pl

from platform_assets.config.resources import MLflowResource, ShelfcastConfig
from platform_assets.defs.features import feature_config, recorded_factors
from platform_assets.defs.presenting import publish_presentation
from platform_assets.defs.retries import SERVER_RETRY
from platform_assets.features.digest import frame_digest
from platform_assets.modeling.names import CHALLENGER, CHAMPION, MODEL_NAME
from platform_assets.storage.warehouse import WAREHOUSE_KIND, WAREHOUSE_POOL, Warehouse


@dg.asset(
    group_name="ml",
    deps=["training_features", "inference_features"],
    kinds={"lightgbm", "statsforecast", "mlflow"},
    pool=WAREHOUSE_POOL,
    retry_policy=SERVER_RETRY,
    tags={"shelfcast/heavy": "true"},
    # Read by dagster-k8s for the pod running this step (k8s_job_executor) and ignored elsewhere.
    op_tags={
        "dagster-k8s/config": {
            "container_config": {
                "resources": {
                    "requests": {"cpu": "2", "memory": "4Gi"},
                    "limits": {"cpu": "4", "memory": "8Gi"},
                }
            }
        }
    },
)
def trained_model(
    context: dg.AssetExecutionContext,
    config: ShelfcastConfig,
    warehouse: Warehouse,
    mlflow: MLflowResource,
) -> dg.MaterializeResult:
    """One global LightGBM over every series and, per demand segment, the statistical models that beat
    it on earlier backtest windows; backtested on rolling origins, logged to MLflow and registered as
    a new `challenger` version, carrying the active series' recent history and planned prices so that
    it forecasts from series ids."""
    from platform_assets.features.store import sales_factors
    from platform_assets.modeling.combination import Combination
    from platform_assets.modeling.rows import COMPONENTS_TABLE, forecasting_frames, training_rows
    from platform_assets.modeling.series_state import series_state
    from platform_assets.modeling.tracking import log_training, training_description, training_run
    from platform_assets.modeling.train_config import TrainConfig
    from platform_assets.modeling.training import train
    from platform_assets.monitoring.presentation import model_presentation, series_attributes

    fcfg = feature_config(config)
    cfg = TrainConfig(
        horizon=fcfg.horizon,
        freq=fcfg.freq,
        target=fcfg.target,
        tune_trials=config.forecasting.tune_trials,
        max_fit_rows=config.forecasting.max_fit_rows or None,
        stat_models=config.forecasting.stat_models,
        n_origins=config.forecasting.backtest_origins,
        levels=config.forecasting.interval_levels(),
    )
    dagster_run = f"{config.serving.dagster_ui_url.rstrip('/')}/runs/{context.run_id}"
    with training_run(
        mlflow.tracking_uri,
        tags={"dagster_run_id": context.run_id, "dagster_asset": "trained_model"},
        links={"dagster_run_url": dagster_run},
        run_name=f"train-{context.run_id[:8]}",
        description=f"Trained by Dagster run [{context.run_id[:8]}]({dagster_run}) (asset `trained_model`).",
        artifact_location=mlflow.artifact_root,
    ) as run:
        narrow, frame, plan = training_rows(warehouse, cfg)
        result = train(frame, cfg, narrow=narrow, plan=plan)
        digest = f"{frame_digest(narrow)}+{frame_digest(frame)}"
        factors = recorded_factors(context.instance) or sales_factors(warehouse, fcfg)
        frames = forecasting_frames(warehouse, fcfg)
        state = series_state(result.combination or Combination(result.model), frames, factors, fcfg)
        log_training(
            run,
            result,
            features=frame,
            data_digest=digest,
            n_rows=narrow.height,
            description=training_description(result.metrics, narrow.height, digest, dagster_run),
            state=state,
        )
    run_id, version = run.run_id, run.version
    backtest = result.backtest.with_columns(pl.lit(str(version)).alias("model_version"))
    warehouse.replace_slice("ml", "backtest_predictions", backtest, {"model_version": str(version)})
    components = result.components.with_columns(pl.lit(str(version)).alias("model_version"))
    warehouse.replace_slice("ml", COMPONENTS_TABLE, components, {"model_version": str(version)})
    context.log.info(f"registered {MODEL_NAME} v{version} (run {run_id}): {result.metrics}")
    title = f"Model quality: {MODEL_NAME} v{version}"
    shown = model_presentation(result.metrics, result.backtest, series_attributes(warehouse), title)
    # What the statistical candidates cost, in all and per method (the accuracy bench reads these).
    fit_seconds = {k: round(v, 3) for k, v in result.metrics.items() if k.endswith("fit_seconds")}
    return dg.MaterializeResult(
        metadata={
            **publish_presentation(config, mlflow, "model", f"v{version}", shown, version, run_id),
            "model_version": dg.MetadataValue.text(str(version)),
            "mlflow_run_id": dg.MetadataValue.text(run_id),
            "training_rows": dg.MetadataValue.int(result.n_train_rows),
            **fit_seconds,
        }
    )


@dg.asset(
    group_name="ml",
    deps=[trained_model],
    kinds={"mlflow"},
    pool=WAREHOUSE_POOL,
    retry_policy=SERVER_RETRY,
    check_specs=[
        dg.AssetCheckSpec(
            "champion_is_vetted",
            asset="champion_model",
            blocking=True,
            description="A champion exists that passed the promotion gate (WARN when the first model was "
            "promoted provisionally: within 20% of seasonal naive's WAPE, not better); blocking: without "
            "one no forecasts are made",
        )
    ],
)
def champion_model(context: dg.AssetExecutionContext, warehouse: Warehouse, mlflow: MLflowResource):
    """The promotion gate: the challenger becomes `champion` only if it beats seasonal naive and
    the current champion on the challenger's own backtest windows."""
    from platform_assets.modeling.promotion import promote
    from platform_assets.modeling.registry import alias_version

    challenger = alias_version(mlflow.tracking_uri, CHALLENGER)
    if challenger is None:
        raise dg.Failure("no challenger registered: materialize trained_model first", allow_retries=False)
    outcome = promote(warehouse, mlflow.tracking_uri, *challenger)
    decision, champion = outcome.decision, outcome.champion_version or "none"
    context.log.info(f"promotion of v{outcome.challenger_version}: {decision.promote} ({decision.reason})")
    yield dg.MaterializeResult(
        metadata={
            "challenger_version": dg.MetadataValue.text(outcome.challenger_version),
            "promoted": dg.MetadataValue.bool(decision.promote),
            "reason": dg.MetadataValue.text(decision.reason),
            "evidence": dg.MetadataValue.json(decision.evidence),
            "champion_version": dg.MetadataValue.text(champion),
        }
    )
    vetted = outcome.champion_version is not None
    if decision.provisional:  # forecasts are made (a WARN does not block), and the reader is told why
        description = f"forecasts are made by a provisional champion: {decision.reason}"
    elif outcome.champion_provisional:
        description = (
            f"forecasts are made by champion v{champion}, promoted provisionally (it did not beat "
            f"seasonal naive); this run's challenger: {decision.reason}"
        )
    elif vetted:
        description = "forecasts are made only by a model that passed the promotion gate"
    else:
        description = f"no model has passed the promotion gate, so no forecasts: {decision.reason}"
    yield dg.AssetCheckResult(
        passed=vetted and not outcome.champion_provisional,
        severity=dg.AssetCheckSeverity.WARN if vetted else dg.AssetCheckSeverity.ERROR,
        metadata={"champion_version": champion},
        description=description,
    )


@dg.asset(
    group_name="ml",
    deps=[champion_model, "inference_features"],
    kinds={WAREHOUSE_KIND},
    pool=WAREHOUSE_POOL,
    retry_policy=SERVER_RETRY,
)
def forecasts(
    context: dg.AssetExecutionContext, config: ShelfcastConfig, warehouse: Warehouse, mlflow: MLflowResource
) -> dg.MaterializeResult:
    """The next horizon for every active series from the champion, one generation per run."""
    from platform_assets.modeling.forecasting import generation
    from platform_assets.modeling.registry import ModelUnloadable, load_combination
    from platform_assets.modeling.rows import forecast_inputs
    from platform_assets.monitoring.presentation import (
        forecast_presentation,
        model_backtest,
        series_attributes,
    )

    try:
        champion = load_combination(mlflow.tracking_uri, CHAMPION)
    except ModelUnloadable as exc:
        raise dg.Failure(str(exc), allow_retries=False) from None
    if champion is None:
        raise dg.Failure(
            "no champion model: forecasts are only made by a model that passed the gate", allow_retries=False
        )
    model, version, run_id = champion
    fcfg = feature_config(config)
    features, series, history = forecast_inputs(warehouse, fcfg)
    rows = generation(
        model,
        features,
        series,
        history,
        version=version,
        run_id=run_id,
        generation_id=context.run_id,
        recent_window=fcfg.windows[1],
    )
    warehouse.replace_slice("marts", "forecasts", rows, {"generation_id": context.run_id})
    title = f"Forecasts of generation {context.run_id[:8]}"
    shown = forecast_presentation(
        rows, history, series_attributes(warehouse), model_backtest(warehouse, version), title
    )
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(rows.height),
            "series": dg.MetadataValue.int(rows.select("product_id", "store_id").n_unique()),
            "model_version": dg.MetadataValue.text(str(version)),
            **publish_presentation(config, mlflow, "forecasts", context.run_id, shown, version, run_id),
        }
    )


def build_ml_defs() -> dg.Definitions:
    return dg.Definitions(assets=[trained_model, champion_model, forecasts])
