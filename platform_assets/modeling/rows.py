"""What the modeling steps read from the warehouse: the rows a computation uses, not whole tables (at
50k series `features.training_features` is 36M rows x 41 columns)."""

from datetime import date, timedelta

import polars as pl

from platform_assets.core.keys import ORDER_SQL
from platform_assets.core.periods import MAX_PERIOD_DAYS, base_freq
from platform_assets.features.config import FeatureConfig
from platform_assets.features.incremental import lookback_start
from platform_assets.features.store import CARRY_SQL, read_events
from platform_assets.modeling.combination import history_periods
from platform_assets.modeling.forecaster import Forecaster
from platform_assets.modeling.plan import NARROW, RowPlan, plan_rows
from platform_assets.modeling.train_config import TrainConfig
from platform_assets.storage.warehouse import Warehouse

FEATURES = "features.training_features"
COMPONENTS_TABLE = "backtest_components"  # ml.backtest_components: how each backtest p50 was made
# A series as one SQL value, unambiguous whatever characters the ids hold (length-prefixed).
SERIES_KEY_SQL = "cast(length(product_id) as varchar) || ':' || product_id || store_id"


def _series_keys(keys: pl.DataFrame) -> list[str]:
    """SERIES_KEY_SQL of each series in `keys`, computed in polars."""
    key = (
        pl.col("product_id").str.len_chars().cast(pl.String) + ":" + pl.col("product_id") + pl.col("store_id")
    )
    return keys.select(key).to_series().to_list()


def training_rows(warehouse: Warehouse, cfg: TrainConfig) -> tuple[pl.DataFrame, pl.DataFrame, RowPlan]:
    """(the few columns `train` reads of every row, all columns of the rows it plans to use, the plan
    `plan_rows` made, for `train` not to make it again): a fit uses a sample of series, and of the
    others only the backtest windows are needed."""
    narrow = warehouse.query(f"select {', '.join(NARROW)} from {FEATURES} order by {ORDER_SQL}")
    plan = plan_rows(narrow, cfg)
    if plan.sample is None:  # every series is fitted on: every row is needed
        return narrow, warehouse.query(f"select * from {FEATURES} order by {ORDER_SQL}"), plan
    keys = _series_keys(plan.sample)
    rows = warehouse.query(
        f"select * from {FEATURES} where period_date > ? or {SERIES_KEY_SQL} in "
        f"({', '.join('?' * len(keys))}) order by {ORDER_SQL}",
        [plan.origins[0], *keys],
    )
    return narrow, rows, plan


def evaluation_since(model: Forecaster, windows: pl.DataFrame, period_days: int) -> date:
    """The day after which `evaluate_on_backtest` reads features: the windows' rows and the actuals
    the model's origin features read before the oldest origin (its medium window, plus one period).
    `period_days`: at least one period, in days."""
    lookback = 0 if model.origin_windows is None else model.origin_windows[1]
    return windows["origin"].min() - timedelta(days=period_days * (lookback + 1))


def evaluation_rows(
    warehouse: Warehouse, model: Forecaster, version: int | str
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame | None]:
    """(the feature rows `model` is scored on, the backtest windows of model `version`, their
    components: the statistical forecasts, None for a version trained without them): only the rows
    the scoring reads."""
    backtest = warehouse.query(
        f"select * from ml.backtest_predictions where model_version = ? order by origin, {ORDER_SQL}",
        [str(version)],
    )
    components = None
    if warehouse.table_exists("ml", COMPONENTS_TABLE):
        components = warehouse.query(
            f"select * from ml.{COMPONENTS_TABLE} where model_version = ? order by origin, {ORDER_SQL}",
            [str(version)],
        )
    since = evaluation_since(model, backtest, MAX_PERIOD_DAYS[base_freq(model.freq)])
    features = warehouse.query(
        f"select * from {FEATURES} where period_date > ? order by {ORDER_SQL}", [since]
    )
    return features, backtest, components


def recent_history(warehouse: Warehouse, cfg: FeatureConfig) -> pl.DataFrame:
    """The newest actuals (keys, period_date, y) as far back as the medium feature window and the
    statistical models' window: the history forecasting (batch or what-if) reads."""
    return warehouse.query(
        f"select product_id, store_id, period_date, y from {FEATURES}"
        f" where period_date >= (select max(period_date) from {FEATURES}) - cast(? as integer)"
        f" order by {ORDER_SQL}",
        [MAX_PERIOD_DAYS[base_freq(cfg.freq)] * history_periods(cfg.freq, cfg.windows[1])],
    )


def forecast_inputs(
    warehouse: Warehouse, cfg: FeatureConfig
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(the future feature rows, the series with their activity, `recent_history`): what
    `make_forecasts` reads."""
    history = recent_history(warehouse, cfg)
    features = warehouse.query(f"select * from features.inference_features order by {ORDER_SQL}")
    series = warehouse.query("select * from marts.dim_series order by product_id, store_id")
    return features, series, history


def forecasting_frames(warehouse: Warehouse, cfg: FeatureConfig) -> dict[str, pl.DataFrame]:
    """The future feature rows (`inference`), `recent_history` and what a rebuild of those rows reads
    (features/rebuild.py): `build_features_since` from the sales rows of the `lookback` periods before
    the first future period, every series' running state before them (the features layer's carry-in
    SQL). Every series is read, active or not: an inactive series still has future rows, and its
    planned prices and promotions enter its peers' features."""
    inference = warehouse.query(f"select * from features.inference_features order by {ORDER_SQL}")
    if inference.is_empty():
        raise ValueError("features.inference_features is empty: materialize the features first")
    start = lookback_start(inference["period_date"].min(), cfg)
    return {
        "inference": inference,
        "sales": warehouse.query(
            f"select * from marts.fct_product_sales where period_date >= ? order by {ORDER_SQL}", [start]
        ),
        "carry": warehouse.query(CARRY_SQL.format(sales="marts.fct_product_sales"), [start] * 3),
        "plans": warehouse.query(f"select * from marts.fct_price_plans order by {ORDER_SQL}"),
        "products": warehouse.query("select * from marts.dim_product order by product_id"),
        "series": warehouse.query("select * from marts.dim_series order by product_id, store_id"),
        "events": read_events(warehouse),
        "history": recent_history(warehouse, cfg),
    }
