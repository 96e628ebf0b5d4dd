"""The features' warehouse side: reading the marts, building all of the table or its tail, writing
`features.training_features` and `features.inference_features` (`refresh_features`, what the features
asset runs). Which build a run gets, and why a tail build equals a full one: features/incremental.py.

A full build holds one chunk of the history in memory at a time (`full_build`): whole peer groups
(category and store) of at most CHUNK_ROWS sales rows, read, built and written aside, then swapped in
at once (`Warehouse.replace_table_chunks`). Its rows equal those of one build over all the marts.
"""

from dataclasses import dataclass
from datetime import date

import polars as pl

from platform_assets.core.keys import KEYS, ORDER, ORDER_SQL
from platform_assets.core.periods import offset_periods
from platform_assets.features.build import build_features, build_features_since
from platform_assets.features.calendar import EVENT_ORDER, EVENT_SCHEMA
from platform_assets.features.chunks import Chunk, category_chunks
from platform_assets.features.config import FeatureConfig
from platform_assets.features.digest import Tally
from platform_assets.features.exact import common_factors, exact_factors, factor_candidates
from platform_assets.features.incremental import compatible, inputs_digest, lookback_start, plan_build
from platform_assets.storage.warehouse import AtLeast, Warehouse

# The marts a build reads.
MART_INPUTS = ["fct_product_sales", "dim_product", "fct_price_plans", "dim_series", "fct_events"]
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
# The running state of every series before `?` (thrice), as incremental.carry_in computes it in polars.
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


@dataclass
class Refresh:
    """What `refresh_features` did: the build, from which period (None: a full build) and why, the rows
    of training_features now and the state the next run plans its build from (`plan_build`)."""

    built: Built
    since: date | None
    reason: str
    rows: int
    state: dict


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
    events: pl.DataFrame | None = None,
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
        frame = build_features(sales, products, *picked, cfg, factors, last, events)
        futures.append(frame.filter("is_future"))
        rows = frame.filter(~pl.col("is_future"))
        written.add(rows)
        return rows

    warehouse.replace_table_chunks("features", "training_features", (history(c) for c in chunks))
    future = pl.concat(futures).sort(ORDER)
    first = spans["first_period"].min().isoformat()
    return Built(written, spans.height, future, factors, first, len(chunks))


def read_events(warehouse: Warehouse) -> pl.DataFrame:
    """The landing zone's events (calendar.EVENT_SCHEMA; empty when it has none)."""
    return warehouse.query(f"select {', '.join(EVENT_SCHEMA)} from marts.fct_events order by {EVENT_ORDER}")


def table_state(warehouse: Warehouse) -> tuple[int, date | None] | None:
    """(rows, last period) of features.training_features, None when there is no table."""
    if not warehouse.table_exists("features", "training_features"):
        return None
    row = warehouse.query(
        "select count(*) as n, max(period_date) as last from features.training_features"
    ).row(0)
    return int(row[0]), row[1]


def _tail(
    warehouse: Warehouse,
    products: pl.DataFrame,
    plans: pl.DataFrame,
    series: pl.DataFrame,
    factors: dict[str, int | None],
    since: date,
    reason: str,
    cfg: FeatureConfig,
    events: pl.DataFrame,
) -> tuple[pl.DataFrame | None, str]:
    """An incremental build's rows from `since` on with the previous build's `factors` and `reason`,
    or None and why there can be none."""
    start = lookback_start(since, cfg)
    sales = warehouse.query(f"select * from marts.fct_product_sales where period_date >= ? {SORT}", [start])
    if sales.is_empty() or offset_periods(sales["period_date"].max(), 1, cfg.freq) < since:
        return None, "the marts end before the periods to rebuild (rows would be left behind)"
    if not compatible(factors, exact_factors(sales, cfg)):
        return None, "new values need other window-sum factors than the previous build's"
    carry = warehouse.query(CARRY_SQL.format(sales="marts.fct_product_sales"), [start] * 3)
    return build_features_since(sales, products, plans, series, carry, since, factors, cfg, events), reason


def refresh_features(
    warehouse: Warehouse,
    cfg: FeatureConfig,
    run_since: date | None,
    landed: list[str] | None,
    previous: dict | None,
) -> Refresh:
    """Rebuild the features tables from the marts: the tail of training_features when `plan_build`
    allows it (arguments as there) and the tail can be built, else all of it; inference_features whole."""
    products = warehouse.query("select * from marts.dim_product order by product_id")
    plans = warehouse.query(f"select * from marts.fct_price_plans {SORT}")
    series = warehouse.query("select * from marts.dim_series order by product_id, store_id")
    events = read_events(warehouse)
    digest = inputs_digest(products, cfg, events)
    since, reason = plan_build(run_since, landed, previous, digest, table_state(warehouse), cfg)
    frame = None
    if since is not None:
        factors = previous["factors"]
        frame, reason = _tail(warehouse, products, plans, series, factors, since, reason, cfg, events)
    if frame is None:
        since, built = None, full_build(warehouse, products, plans, series, cfg, events=events)
    else:
        history = frame.filter(~pl.col("is_future"))
        warehouse.replace_slice("features", "training_features", history, {"period_date": AtLeast(since)})
        n_series = history.select(*KEYS).n_unique()
        future = frame.filter(pl.col("is_future"))
        built = Built(Tally().add(history), n_series, future, previous["factors"], previous["history_start"])
    warehouse.replace_table("features", "inference_features", built.future)
    rows, history_end = table_state(warehouse)
    state = {
        "digest": digest,
        "factors": built.factors,
        "rows": rows,
        "history_end": history_end.isoformat() if history_end else None,
        "history_start": built.history_start,
    }
    return Refresh(built, since, reason, rows, state)


def sales_factors(warehouse: Warehouse, cfg: FeatureConfig) -> dict[str, int | None]:
    """The window-sum factors of every sales value, as a from-scratch features build finds them (for a
    bundle made without the features build's recorded state)."""
    return exact_factors(
        warehouse.query("select distinct units_sold, price from marts.fct_product_sales"), cfg
    )
