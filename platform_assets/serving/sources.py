"""What a serving bundle reads from the warehouse (reads only; snapshot.py assembles the bundle): the
newest forecasts, what a rebuild of future feature rows reads (`modeling.rows.forecasting_frames`)
and the reference profiles a what-if is compared with."""

import polars as pl

from platform_assets.core.periods import MAX_PERIOD_DAYS, base_freq
from platform_assets.features.config import FeatureConfig
from platform_assets.modeling.rows import forecasting_frames
from platform_assets.storage.warehouse import Warehouse

# Per series and per category over the whole history: the range of prices and promotions the model
# has seen, which a what-if scenario is compared with (averages cast: Postgres's are numeric).
# `cut_without_promo_share`: of the periods without a promotion, the share priced over 10% below the
# price `{lag}` periods before (the horizon: what the features' `price_change_vs_anchor` compares
# with); in feeds that cut prices only with promotions it is near zero, and a scenario doing it
# anyway is outside what the model learnt.
PROFILE_SQL = """
with history as (
    select s.product_id, s.store_id, coalesce(p.category, 'unknown') as category, s.price, s.on_promo,
        s.units_sold,
        s.price < 0.9 * lag(s.price, {lag}) over (
            partition by s.product_id, s.store_id order by s.period_date
        ) as cut
    from marts.fct_product_sales as s
    left join marts.dim_product as p on p.product_id = s.product_id
)
select {keys},
    count(*) as periods,
    min(price) as price_min,
    percentile_cont(0.05) within group (order by price) as price_p05,
    percentile_cont(0.5) within group (order by price) as price_p50,
    percentile_cont(0.95) within group (order by price) as price_p95,
    max(price) as price_max,
    cast(avg(case when on_promo then 1.0 else 0.0 end) as double precision) as promo_share,
    cast(avg(case when not on_promo then (case when cut then 1.0 else 0.0 end) end) as double precision)
        as cut_without_promo_share,
    cast(avg(units_sold) as double precision) as units_mean,
    cast(avg(case when units_sold = 0 then 1.0 when units_sold > 0 then 0.0 end) as double precision)
        as zero_share  -- over the periods not missing (units null there)
from history
group by {ordinals}
order by {ordinals}
"""
# (select list, its positions for group by / order by): both dialects group by position.
SERIES_KEYS = ("product_id, store_id", "1, 2")
CATEGORY_KEYS = ("category", "1")
# The training rows of the newest `?` days: the reference for the model inputs' profile.
REFERENCE_SQL = """
select {columns} from features.training_features
where y is not null
  and period_date > (select max(period_date) from features.training_features) - cast(? as integer)
"""


def _profile_sql(keys: str, ordinals: str, lag: int) -> str:
    return PROFILE_SQL.format(keys=keys, ordinals=ordinals, lag=int(lag))


def read_forecasting_state(warehouse: Warehouse, cfg: FeatureConfig) -> dict[str, pl.DataFrame]:
    """The served forecasts and everything a rebuild of the future feature rows reads."""
    forecasts = warehouse.query("select * from marts.forecasts_latest order by product_id, store_id, horizon")
    return {"forecasts": forecasts, **forecasting_frames(warehouse, cfg)}


def read_profiles(
    warehouse: Warehouse, cfg: FeatureConfig, numeric_features: list[str], reference_periods: int
) -> dict[str, pl.DataFrame]:
    """Per-series and per-category price / promotion / demand profiles, and the reference rows of the
    model's numeric inputs stored with the features (the newest `reference_periods` training periods;
    the origin features are computed at forecast time, not stored)."""
    stored = warehouse.query("select * from features.training_features limit 0").columns
    columns = ", ".join(
        ["product_id", "store_id", "period_date", *(c for c in numeric_features if c in stored)]
    )
    days = MAX_PERIOD_DAYS[base_freq(cfg.freq)] * reference_periods
    return {
        "series_profile": warehouse.query(_profile_sql(*SERIES_KEYS, cfg.horizon)),
        "category_profile": warehouse.query(_profile_sql(*CATEGORY_KEYS, cfg.horizon)),
        "reference": warehouse.query(REFERENCE_SQL.format(columns=columns), [days]),
    }
