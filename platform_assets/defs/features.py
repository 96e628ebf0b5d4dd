"""Features layer: the features asset; which build a run gets (incremental or full) and why it gives
a from-scratch build's rows: platform_assets/features/incremental.py."""

from datetime import date

import dagster as dg

from platform_assets.config.resources import ShelfcastConfig
from platform_assets.core.keys import KEYS
from platform_assets.defs.orchestration import RANGE_START_TAG
from platform_assets.defs.retries import SERVER_RETRY
from platform_assets.features.config import FeatureConfig
from platform_assets.features.digest import Tally
from platform_assets.features.store import CHUNK_ROWS, MART_INPUTS, refresh_features
from platform_assets.storage.warehouse import WAREHOUSE_KIND, WAREHOUSE_POOL, Warehouse


def feature_config(config: ShelfcastConfig) -> FeatureConfig:
    return FeatureConfig(
        target=config.forecasting.target,
        horizon=config.forecasting.horizon,
        freq=config.resolved_freq(),
        holidays=config.forecasting.holidays,
    )


def recorded_factors(instance: dg.DagsterInstance) -> dict[str, int | None] | None:
    """The window-sum factors the newest features build used (its `build_state`): those that built
    inference_features, which a rebuild of future rows (a what-if, the registered model's plans) must
    use too."""
    records = instance.fetch_materializations(dg.AssetKey("training_features"), limit=1).records
    state = records[0].asset_materialization.metadata.get("build_state") if records else None
    factors = state.data.get("factors") if isinstance(state, dg.JsonMetadataValue) else None
    return dict(factors) if factors else None


def _run_since(context: dg.AssetExecutionContext) -> date | None:
    """The first day of the run's ingest partitions: a range (backfill, drift loop) or one key (schedule)."""
    tags = context.run.tags
    start = tags.get(RANGE_START_TAG) or tags.get("dagster/partition")
    try:
        return date.fromisoformat(start[:10]) if start else None
    except ValueError:
        return None


def _previous(instance: dg.DagsterInstance) -> tuple[dict | None, list[str] | None]:
    """The state the last training_features materialization recorded and the raw_observations partitions
    materialized after it (this run's included)."""
    records = instance.fetch_materializations(dg.AssetKey("training_features"), limit=1).records
    if not records:
        return None, None
    state = records[0].asset_materialization.metadata.get("build_state")
    landed = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey("raw_observations"), after_storage_id=records[0].storage_id
        ),
        limit=10_000,
    )
    keys = None if landed.has_more else [r.partition_key for r in landed.records if r.partition_key]
    return (state.data if isinstance(state, dg.JsonMetadataValue) else None), keys


def _materialized(
    name: str, rows: int, tally: Tally, series: int, **extra: dg.MetadataValue
) -> dg.MaterializeResult:
    return dg.MaterializeResult(
        asset_key=name,
        metadata={
            "rows": dg.MetadataValue.int(rows),
            "columns": dg.MetadataValue.int(tally.columns),
            # the digest of what this run wrote: the whole table on full builds, the tail otherwise
            "digest": dg.MetadataValue.text(tally.digest),
            "series": dg.MetadataValue.int(series),
            **extra,
        },
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "training_features", deps=MART_INPUTS, group_name="features", kinds={"polars", WAREHOUSE_KIND}
        ),
        dg.AssetSpec(
            "inference_features", deps=MART_INPUTS, group_name="features", kinds={"polars", WAREHOUSE_KIND}
        ),
    ],
    pool=WAREHOUSE_POOL,
    retry_policy=SERVER_RETRY,
)
def features(context: dg.AssetExecutionContext, config: ShelfcastConfig, warehouse: Warehouse):
    """History rows (target known) and the next horizon's rows (target to forecast), built together
    so both use exactly the same feature code; incrementally in partitioned runs (module doc)."""
    previous, landed = _previous(context.instance)
    done = refresh_features(warehouse, feature_config(config), _run_since(context), landed, previous)
    built, mode = done.built, "incremental" if done.since else "full"
    context.log.info(f"training_features: {mode} build ({done.reason})")
    if done.since is None:
        context.log.info(f"training_features: built in {built.chunks} chunk(s) of <= {CHUNK_ROWS} sales rows")
    yield _materialized(
        "training_features",
        done.rows,
        built.written,
        built.series,
        mode=dg.MetadataValue.text(mode),
        build_reason=dg.MetadataValue.text(done.reason),
        rows_written=dg.MetadataValue.int(built.written.rows),
        build_state=dg.MetadataValue.json(done.state),
    )
    future = built.future
    yield _materialized(
        "inference_features", future.height, Tally().add(future), future.select(*KEYS).n_unique()
    )


def build_features_defs() -> dg.Definitions:
    return dg.Definitions(assets=[features])
