"""ML layer: train a challenger, gate it against the champion, forecast only from the champion.

MLflow and LightGBM are imported inside the asset bodies: every run worker and `dagster dev` loads
this module, and only the steps that train or forecast should pay for them.
"""

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import dagster as dg
import polars as pl

from platform_assets.config.resources import MLflowResource, ShelfcastConfig
from platform_assets.core.keys import ORDER_SQL
from platform_assets.core.periods import MAX_PERIOD_DAYS, base_freq
from platform_assets.defs.features import feature_config
from platform_assets.features.digest import frame_digest
from platform_assets.storage.warehouse import WAREHOUSE_POOL, Warehouse

if TYPE_CHECKING:  # training imports LightGBM: only the steps that train load it
    from platform_assets.modeling.training import RowPlan, TrainConfig

FORECAST_COLUMNS = [
    "product_id", "store_id", "target_date", "horizon", "p10", "p50", "p90", "model_name",
    "model_version", "mlflow_run_id", "generated_at", "method", "generation_id",
]  # fmt: skip


def _metric_metadata(metrics: dict[str, float]) -> dict[str, dg.MetadataValue]:
    return {k: dg.MetadataValue.float(float(v)) for k, v in sorted(metrics.items())}


def training_rows(warehouse: Warehouse, cfg: "TrainConfig") -> tuple[pl.DataFrame, pl.DataFrame, "RowPlan"]:
    """(the few columns `train` reads of every row, all columns of the rows it plans to use, the plan
    `training.plan_rows` made, for `train` not to make it again): at 50k
    series the whole table is 36M rows x 41 columns, and a fit uses a sample of series. Series are
    matched by a length-prefixed key, unambiguous whatever characters the ids hold."""
    from platform_assets.modeling.training import NARROW, plan_rows

    columns = ", ".join(NARROW)
    narrow = warehouse.query(f"select {columns} from features.training_features order by {ORDER_SQL}")
    plan = plan_rows(narrow, cfg)
    if plan.sample is None:  # every series is fitted on: every row is needed
        return narrow, warehouse.query(f"select * from features.training_features order by {ORDER_SQL}"), plan
    key = "cast(length(product_id) as varchar) || ':' || product_id || store_id"
    keys = (
        plan.sample.select(
            pl.col("product_id").str.len_chars().cast(pl.String)
            + ":"
            + pl.col("product_id")
            + pl.col("store_id")
        )
        .to_series()
        .to_list()
    )
    oldest = plan.origins[0]
    rows = warehouse.query(
        f"select * from features.training_features where period_date > ? or {key} in "
        f"({', '.join('?' * len(keys))}) order by {ORDER_SQL}",
        [oldest, *keys],
    )
    return narrow, rows, plan


@dg.asset(
    group_name="ml",
    deps=["training_features"],
    kinds={"lightgbm", "mlflow"},
    pool=WAREHOUSE_POOL,
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
    """One global LightGBM over every series, backtested on rolling origins, logged to MLflow and
    registered as a new `challenger` version."""
    from platform_assets.modeling.registry import MODEL_NAME, log_training
    from platform_assets.modeling.training import TrainConfig, train

    fcfg = feature_config(config)
    cfg = TrainConfig(
        horizon=fcfg.horizon,
        freq=fcfg.freq,
        target=fcfg.target,
        tune_trials=config.forecasting.tune_trials,
        max_fit_rows=config.forecasting.max_fit_rows or None,
    )
    narrow, frame, plan = training_rows(warehouse, cfg)
    result = train(frame, cfg, narrow=narrow, plan=plan)
    run_id, version = log_training(
        result,
        tracking_uri=mlflow.tracking_uri,
        artifact_location=mlflow.artifact_root,
        data_digest=f"{frame_digest(narrow)}+{frame_digest(frame)}",
        n_rows=narrow.height,
        tags={"dagster_run_id": context.run_id, "dagster_asset": "trained_model"},
        run_name=f"train-{context.run_id[:8]}",
    )
    backtest = result.backtest.with_columns(pl.lit(str(version)).alias("model_version"))
    warehouse.replace_slice("ml", "backtest_predictions", backtest, {"model_version": str(version)})
    context.log.info(f"registered {MODEL_NAME} v{version} (run {run_id}): {result.metrics}")
    return dg.MaterializeResult(
        metadata={
            "model_version": dg.MetadataValue.text(str(version)),
            "mlflow_run_id": dg.MetadataValue.text(run_id),
            "training_rows": dg.MetadataValue.int(result.n_train_rows),
            **_metric_metadata(result.metrics),
        }
    )


@dg.asset(
    group_name="ml",
    deps=[trained_model],
    kinds={"mlflow"},
    pool=WAREHOUSE_POOL,
    check_specs=[dg.AssetCheckSpec("champion_is_vetted", asset="champion_model", blocking=True)],
)
def champion_model(context: dg.AssetExecutionContext, warehouse: Warehouse, mlflow: MLflowResource):
    """The promotion gate: the challenger becomes `champion` only if it beats seasonal naive and
    the current champion on the challenger's own backtest windows."""
    from platform_assets.modeling.registry import (
        decide_promotion,
        evaluate_on_backtest,
        evaluation_since,
        load_forecaster,
        run_metrics,
        set_champion,
    )

    uri = mlflow.tracking_uri
    challenger = load_forecaster(uri, "challenger")
    if challenger is None:
        raise dg.Failure("no challenger registered: materialize trained_model first")
    _, challenger_version, challenger_run = challenger
    challenger_metrics = run_metrics(uri, challenger_run)
    incumbent = load_forecaster(uri, "champion")
    champion_metrics = None
    if incumbent is not None and str(incumbent[1]) != str(challenger_version):
        backtest = warehouse.query(
            "select * from ml.backtest_predictions where model_version = ?"
            " order by origin, product_id, store_id, period_date",
            [str(challenger_version)],
        )
        # Only the rows the scoring reads, not the whole table (36M rows at 50k series).
        since = evaluation_since(incumbent[0], backtest, MAX_PERIOD_DAYS[base_freq(incumbent[0].freq)])
        features = warehouse.query(
            f"select * from features.training_features where period_date > ? order by {ORDER_SQL}", [since]
        )
        champion_metrics = evaluate_on_backtest(incumbent[0], features, backtest)
    decision = decide_promotion(challenger_metrics, champion_metrics)
    if decision.promote:
        set_champion(uri, challenger_version)
    champion = load_forecaster(uri, "champion")
    context.log.info(f"promotion of v{challenger_version}: {decision.promote} ({decision.reason})")
    yield dg.MaterializeResult(
        metadata={
            "challenger_version": dg.MetadataValue.text(str(challenger_version)),
            "promoted": dg.MetadataValue.bool(decision.promote),
            "reason": dg.MetadataValue.text(decision.reason),
            "evidence": dg.MetadataValue.json(decision.evidence),
            "champion_version": dg.MetadataValue.text(str(champion[1]) if champion else "none"),
        }
    )
    yield dg.AssetCheckResult(
        passed=champion is not None,
        metadata={"champion_version": str(champion[1]) if champion else "none"},
        description="forecasts are made only by a model that passed the promotion gate",
    )


@dg.asset(group_name="ml", deps=[champion_model, "inference_features"], kinds={"duckdb"}, pool=WAREHOUSE_POOL)
def forecasts(
    context: dg.AssetExecutionContext, config: ShelfcastConfig, warehouse: Warehouse, mlflow: MLflowResource
) -> dg.MaterializeResult:
    """The next horizon for every active series from the champion, one generation per run."""
    from platform_assets.modeling.forecasting import make_forecasts
    from platform_assets.modeling.registry import MODEL_NAME, load_forecaster

    champion = load_forecaster(mlflow.tracking_uri, "champion")
    if champion is None:
        raise dg.Failure("no champion model: forecasts are only made by a model that passed the gate")
    model, version, run_id = champion
    fcfg = feature_config(config)
    recent = warehouse.query(
        "select product_id, store_id, period_date, y from features.training_features"
        " where period_date >= (select max(period_date) from features.training_features) - cast(? as integer)"
        f" order by {ORDER_SQL}",
        [MAX_PERIOD_DAYS[base_freq(fcfg.freq)] * fcfg.windows[1]],
    )
    rows = make_forecasts(
        model,
        warehouse.query(f"select * from features.inference_features order by {ORDER_SQL}"),
        warehouse.query("select * from marts.dim_series order by product_id, store_id"),
        history=recent,
    )
    generation = rows.with_columns(
        pl.lit(MODEL_NAME).alias("model_name"),
        pl.lit(str(version)).alias("model_version"),
        pl.lit(run_id).alias("mlflow_run_id"),
        pl.lit(datetime.now(UTC).replace(tzinfo=None), pl.Datetime("us")).alias("generated_at"),
        pl.lit(context.run_id).alias("generation_id"),
    ).select(FORECAST_COLUMNS)
    warehouse.replace_slice("marts", "forecasts", generation, {"generation_id": context.run_id})
    by_method = generation.group_by("method").len().sort("method")
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(generation.height),
            "series": dg.MetadataValue.int(generation.select("product_id", "store_id").n_unique()),
            "model_version": dg.MetadataValue.text(str(version)),
            "by_method": dg.MetadataValue.json(dict(by_method.iter_rows())),
        }
    )


def build_ml_defs() -> dg.Definitions:
    return dg.Definitions(assets=[trained_model, champion_model, forecasts])
