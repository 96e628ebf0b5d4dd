"""Features layer: point-in-time features for training and for the periods to forecast.

A partitioned run (daily_refresh, a landing-sensor run) rebuilds `training_features` only from the
first period whose marts rows may have changed: the first month of the run's partition range, or of any
`raw_observations` partition landed since the last features build, whichever is earlier. It reads the
marts from `lookback` periods before that, plus a per-series running state aggregated in SQL, and
replaces the table's tail (`replace_slice` with `period_date >= since`); `inference_features` (the
next horizon) is always rebuilt whole. The rows equal a from-scratch build's (see
platform_assets/features/build.py and tests/test_features_incremental.py) provided the older rows still
describe the same inputs, which is checked, and the build falls back to a full one when it is not
known: no previous build, a changed catalog (category, brand, supplier, numeric attributes), feature
settings or feature code (`FEATURE_CODE_VERSION`), a table whose row count or last period differs
from what the last build recorded, or values whose window sums cannot be made exact. Unpartitioned runs
(retrain, a manual materialization) always build from scratch, so do those after changing the marts'
SQL: a dbt change that rewrites old periods is not a landed partition this asset can see.

A full build holds one chunk of the history in memory at a time (`full_build`): whole peer groups
(category and store) of at most CHUNK_ROWS sales rows, read, built and written aside, then swapped in
at once (`Warehouse.replace_table_chunks`). Its rows equal those of one build over all the marts.
"""

from dataclasses import dataclass
from datetime import date

import dagster as dg
import polars as pl

from platform_assets.config.resources import ShelfcastConfig
from platform_assets.core.keys import KEYS, ORDER, ORDER_SQL
from platform_assets.core.periods import offset_periods, period_start
from platform_assets.defs.orchestration import RANGE_START_TAG
from platform_assets.features.build import (
    Chunk,
    FeatureConfig,
    build_features,
    build_features_since,
    category_chunks,
    common_factors,
    exact_factors,
    factor_candidates,
    lookback_start,
    numeric_attributes,
)
from platform_assets.storage.warehouse import WAREHOUSE_POOL, AtLeast, Warehouse

MART_INPUTS = ["fct_product_sales", "dim_product", "fct_price_plans", "dim_series"]
# Bump when platform_assets/features/build.py changes what a row holds: the next run then builds from scratch.
FEATURE_CODE_VERSION = 3
SORT = f"order by {ORDER_SQL}"
# Sales rows per chunk of a full build: a build peaks at ~0.9 KB a sales row (1k-series synthetic feed).
CHUNK_ROWS = 2_000_000
# Every series' rows and span, to plan the chunks of a full build.
SPANS_SQL = """
select product_id, store_id, count(*) as n, min(period_date) as first_period, max(period_date) as last_period
from marts.fct_product_sales
group by product_id, store_id
"""
# One chunk's sales rows (`_chunk_query`).
CHUNK_SQL = """
select {columns}
from marts.fct_product_sales as s
left join marts.dim_product as p on p.product_id = s.product_id
where {where}
"""
# The running state of every series before `?` (thrice), as features.carry_in computes it in polars.
CARRY_SQL = """
with state as (
    select product_id, store_id,
        min(period_date) as first_period,
        count(*) filter (where is_observed and period_date < ?) as observed_before,
        max(period_date) filter (where units_sold > 0 and period_date < ?) as last_sale_before,
        max(period_date) filter (where price is not null and period_date < ?) as last_priced
    from {sales}
    group by product_id, store_id
)
select s.product_id, s.store_id, s.first_period, s.observed_before, s.last_sale_before,
    p.price as last_price_before
from state as s
left join {sales} as p
    on p.product_id = s.product_id and p.store_id = s.store_id and p.period_date = s.last_priced
order by s.product_id, s.store_id
"""


def frame_digest(df: pl.DataFrame) -> str:
    """A content digest logged with the model, so a run can be traced to the exact feature set."""
    return Tally().add(df).digest


@dataclass
class Tally:
    """Rows, columns and `frame_digest` of frames added one by one: the digest sums row hashes (as
    integers, masked at the end), so chunks of one schema give the digest of the whole frame."""

    rows: int = 0
    columns: int = 0
    hashes: int = 0

    def add(self, df: pl.DataFrame) -> "Tally":
        self.rows, self.columns = self.rows + df.height, df.width
        self.hashes += int(df.hash_rows(seed=7).sum())
        return self

    @property
    def digest(self) -> str:
        return f"{self.hashes & (2**64 - 1):016x}-{self.rows}x{self.columns}"


@dataclass
class Built:
    """A build: what it wrote to training_features (tally, series), the future rows for
    inference_features, the window-sum factors of its rows, the first sales period and its chunks."""

    written: Tally
    series: int
    future: pl.DataFrame
    factors: dict[str, int | None]
    history_start: str | None
    chunks: int = 1


def _chunk_query(warehouse: Warehouse, columns: str, chunk: Chunk) -> pl.DataFrame:
    """`columns` of the sales rows in `chunk`, picked as `Chunk.select` picks them (a product missing
    from the catalog has no category); categories and stores are bound as parameters."""
    named = [c for c in chunk.categories if c is not None]
    terms = [f"p.category in ({', '.join('?' * len(named))})"] if named else []
    terms += ["p.category is null"] if None in chunk.categories else []
    where = f"({' or '.join(terms)})"
    if chunk.stores is not None:
        where += f" and s.store_id in ({', '.join('?' * len(chunk.stores))})"
    return warehouse.query(CHUNK_SQL.format(columns=columns, where=where), [*named, *(chunk.stores or ())])


def full_build(
    warehouse: Warehouse,
    products: pl.DataFrame,
    plans: pl.DataFrame,
    series: pl.DataFrame,
    cfg: FeatureConfig,
    max_rows: int = CHUNK_ROWS,
) -> Built:
    """Build every row from scratch a chunk of peer groups at a time (`category_chunks`), replacing
    training_features with the history rows at once (`Warehouse.replace_table_chunks`); the future rows
    are returned. The window-sum factors come first, from every chunk's values: they must be those of
    all the sales, as `last` must be their last period."""
    spans = warehouse.query(SPANS_SQL)
    if spans.is_empty():
        raise ValueError("marts.fct_product_sales has no rows: there is nothing to build features from")
    counts = pl.concat(
        [spans.select(*KEYS, pl.col("n").cast(pl.Int64)), series.select(*KEYS, n=pl.lit(0, pl.Int64))]
    )
    chunks = category_chunks(products, counts, max_rows)
    # Distinct values are enough (the candidates test each value alone) and far fewer rows travel.
    values = "distinct s.units_sold, s.price"
    factors = common_factors(factor_candidates(_chunk_query(warehouse, values, c), cfg) for c in chunks)
    last, written, futures = spans["last_period"].max(), Tally(), []

    def history(chunk: Chunk) -> pl.DataFrame:
        """The chunk's history rows, built from its sales (read in any order: the build sorts them)."""
        sales = _chunk_query(warehouse, "s.*", chunk)
        picked = [chunk.select(frame, products) for frame in (plans, series)]
        frame = build_features(sales, products, *picked, cfg, factors, last)
        futures.append(frame.filter("is_future"))
        rows = frame.filter(~pl.col("is_future"))
        written.add(rows)
        return rows

    warehouse.replace_table_chunks("features", "training_features", (history(c) for c in chunks))
    future = pl.concat(futures).sort(ORDER)
    first = spans["first_period"].min().isoformat()
    return Built(written, spans.height, future, factors, first, len(chunks))


def feature_config(config: ShelfcastConfig) -> FeatureConfig:
    return FeatureConfig(
        target=config.forecasting.target, horizon=config.forecasting.horizon, freq=config.resolved_freq()
    )


def inputs_digest(products: pl.DataFrame, cfg: FeatureConfig) -> str:
    """What every row of the table depends on besides the sales rows: the catalog's columns the features
    read (not the raw attributes: only their numeric ones become features), the feature settings and the
    feature code's version."""
    catalog = products.select("product_id", "category", "brand", "supplier_id").join(
        numeric_attributes(products), on="product_id", how="left"
    )
    return f"v{FEATURE_CODE_VERSION}-{cfg.target}-{cfg.horizon}-{cfg.freq}-{frame_digest(catalog)}"


def plan_build(
    run_since: date | None,
    landed: list[str] | None,
    previous: dict | None,
    digest: str,
    table: tuple[int, date | None] | None,
    cfg: FeatureConfig,
) -> tuple[date | None, str]:
    """(first period to rebuild or None for a full build, why). `run_since`: the first day of the run's
    partition range (None: unpartitioned run); `landed`: raw_observations partition keys materialized
    since the previous build (None: unknown); `previous`: the state the previous build recorded;
    `table`: (rows, last period) of features.training_features now (None: no table)."""
    if run_since is None:
        return None, "unpartitioned run"
    if previous is None or landed is None:
        return None, "no previous build recorded"
    if previous.get("digest") != digest:
        return None, "catalog, feature settings or feature code changed since the previous build"
    if any(f is None for f in previous.get("factors", {None: None}).values()):
        return None, "the previous build's window sums were not exact"
    history_end = date.fromisoformat(previous["history_end"]) if previous.get("history_end") else None
    if table is None or history_end is None or table != (previous["rows"], history_end):
        return None, f"table {table} is not what the previous build wrote ({previous.get('rows')} rows)"
    since = min([run_since, *(date.fromisoformat(key[:10]) for key in landed)])
    since = min(period_start(since, cfg.freq), offset_periods(history_end, 1, cfg.freq))  # no gap
    if previous.get("history_start") is None or since <= date.fromisoformat(previous["history_start"]):
        return None, "the run covers the whole history"
    return since, f"rebuilt from {since} (lookback from {lookback_start(since, cfg)})"


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


def _table(warehouse: Warehouse) -> tuple[int, date | None] | None:
    if not warehouse.table_exists("features", "training_features"):
        return None
    row = warehouse.query(
        "select count(*) as n, max(period_date) as last from features.training_features"
    ).row(0)
    return int(row[0]), row[1]


def _compatible(stored: dict, now: dict) -> bool:
    """The stored factors serve the new rows too: whole numbers stay whole at a larger factor."""
    return all(now[k] is not None and stored.get(k) is not None and now[k] <= stored[k] for k in now)


def _tail(
    warehouse: Warehouse,
    products: pl.DataFrame,
    plans: pl.DataFrame,
    series: pl.DataFrame,
    factors: dict[str, int | None],
    since: date,
    reason: str,
    cfg: FeatureConfig,
) -> tuple[pl.DataFrame | None, str]:
    """An incremental build's rows from `since` on with the previous build's `factors` (module doc) and
    `reason`, or None and why there can be none."""
    start = lookback_start(since, cfg)
    sales = warehouse.query(f"select * from marts.fct_product_sales where period_date >= ? {SORT}", [start])
    if sales.is_empty() or offset_periods(sales["period_date"].max(), 1, cfg.freq) < since:
        return None, "the marts end before the periods to rebuild (rows would be left behind)"
    if not _compatible(factors, exact_factors(sales, cfg)):
        return None, "new values need other window-sum factors than the previous build's"
    carry = warehouse.query(CARRY_SQL.format(sales="marts.fct_product_sales"), [start] * 3)
    return build_features_since(sales, products, plans, series, carry, since, factors, cfg), reason


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
        dg.AssetSpec("training_features", deps=MART_INPUTS, group_name="features", kinds={"polars"}),
        dg.AssetSpec("inference_features", deps=MART_INPUTS, group_name="features", kinds={"polars"}),
    ],
    pool=WAREHOUSE_POOL,
)
def features(context: dg.AssetExecutionContext, config: ShelfcastConfig, warehouse: Warehouse):
    """History rows (target known) and the next horizon's rows (target to forecast), built together
    so both use exactly the same feature code; incrementally in partitioned runs (module doc)."""
    cfg = feature_config(config)
    products = warehouse.query("select * from marts.dim_product order by product_id")
    plans = warehouse.query(f"select * from marts.fct_price_plans {SORT}")
    series = warehouse.query("select * from marts.dim_series order by product_id, store_id")
    digest = inputs_digest(products, cfg)
    previous, landed = _previous(context.instance)
    since, reason = plan_build(_run_since(context), landed, previous, digest, _table(warehouse), cfg)
    frame = None
    if since is not None:
        frame, reason = _tail(warehouse, products, plans, series, previous["factors"], since, reason, cfg)
    if frame is None:
        since = None
    context.log.info(f"training_features: {'incremental' if since else 'full'} build ({reason})")
    if since is None:
        built = full_build(warehouse, products, plans, series, cfg)
        context.log.info(f"training_features: built in {built.chunks} chunk(s) of <= {CHUNK_ROWS} sales rows")
    else:
        history = frame.filter(~pl.col("is_future"))
        warehouse.replace_slice("features", "training_features", history, {"period_date": AtLeast(since)})
        n_series = history.select(*KEYS).n_unique()
        future = frame.filter(pl.col("is_future"))
        built = Built(Tally().add(history), n_series, future, previous["factors"], previous["history_start"])
    warehouse.replace_table("features", "inference_features", built.future)
    rows, history_end = _table(warehouse)
    state = {
        "digest": digest,
        "factors": built.factors,
        "rows": rows,
        "history_end": history_end.isoformat() if history_end else None,
        "history_start": built.history_start,
    }
    yield _materialized(
        "training_features",
        rows,
        built.written,
        built.series,
        mode=dg.MetadataValue.text("incremental" if since else "full"),
        build_reason=dg.MetadataValue.text(reason),
        rows_written=dg.MetadataValue.int(built.written.rows),
        build_state=dg.MetadataValue.json(state),
    )
    future = built.future
    yield _materialized(
        "inference_features", future.height, Tally().add(future), future.select(*KEYS).n_unique()
    )


def build_features_defs() -> dg.Definitions:
    return dg.Definitions(assets=[features])
