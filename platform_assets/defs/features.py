"""Features layer: point-in-time features for training and for the periods to forecast."""

import dagster as dg
import polars as pl

from platform_assets.defs.ingest import WAREHOUSE_POOL
from platform_assets.features import FeatureConfig, build_features
from platform_assets.resources import ShelfcastConfig
from platform_assets.warehouse import Warehouse

MART_INPUTS = ["fct_product_sales", "dim_product", "fct_price_plans", "dim_series"]


def frame_digest(df: pl.DataFrame) -> str:
    """A content digest logged with the model, so a run can be traced to the exact feature set."""
    return f"{int(df.hash_rows(seed=7).sum()) & (2**64 - 1):016x}-{df.height}x{df.width}"


def feature_config(config: ShelfcastConfig) -> FeatureConfig:
    return FeatureConfig(target=config.target, horizon=config.horizon, freq=config.resolved_freq())


@dg.multi_asset(
    specs=[
        dg.AssetSpec("training_features", deps=MART_INPUTS, group_name="features", kinds={"polars"}),
        dg.AssetSpec("inference_features", deps=MART_INPUTS, group_name="features", kinds={"polars"}),
    ],
    pool=WAREHOUSE_POOL,
)
def features(config: ShelfcastConfig, warehouse: Warehouse):
    """History rows (target known) and the next horizon's rows (target to forecast), built together
    so both use exactly the same feature code."""
    sort = "order by product_id, store_id, period_date"
    frame = build_features(
        warehouse.query(f"select * from marts.fct_product_sales {sort}"),
        warehouse.query("select * from marts.dim_product order by product_id"),
        warehouse.query(f"select * from marts.fct_price_plans {sort}"),
        warehouse.query("select * from marts.dim_series order by product_id, store_id"),
        feature_config(config),
    )
    for name, part in (
        ("training_features", frame.filter(~pl.col("is_future"))),
        ("inference_features", frame.filter(pl.col("is_future"))),
    ):
        warehouse.replace_table("features", name, part)
        yield dg.MaterializeResult(
            asset_key=name,
            metadata={
                "rows": dg.MetadataValue.int(part.height),
                "columns": dg.MetadataValue.int(part.width),
                "digest": dg.MetadataValue.text(frame_digest(part)),
                "series": dg.MetadataValue.int(part.select("product_id", "store_id").n_unique()),
            },
        )


def build_features_defs() -> dg.Definitions:
    return dg.Definitions(assets=[features])
