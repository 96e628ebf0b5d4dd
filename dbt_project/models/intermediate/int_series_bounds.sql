-- Each series' plausible range, from its own history: a value far outside it (a typo, a unit slip,
-- 1e300) is excluded in int_observations instead of being trained on. Quantiles, not the mean and
-- standard deviation, so the outliers being judged barely move their own bounds (values above
-- max_plausible_value do not count at all).
-- units_sold: at most outlier_factor x the series' outlier_quantile (at least 1, so a series that
-- mostly sells nothing may still sell a few). price: within outlier_factor of the series' quantiles
-- on either side (a price slip by 100x, a price of 0 where it never was).
{%- set q = var('outlier_quantile') %}
{%- set factor = var('outlier_factor') %}
with plausible as (
    select
        product_id,
        store_id,
        case when abs(units_sold) <= {{ var('max_plausible_value') }} then units_sold end as units_sold,
        case when abs(price) <= {{ var('max_plausible_value') }} then price end as price
    from {{ ref('stg_observations') }}
    where is_actual
)

select
    product_id,
    store_id,
    {{ factor }} * greatest(
        coalesce(percentile_cont({{ q }}) within group (order by units_sold), 0), 1
    ) as units_sold_max,
    {{ factor }} * percentile_cont({{ q }}) within group (order by price) as price_max,
    percentile_cont(1 - {{ q }}) within group (order by price) / {{ factor }} as price_min,
    count(units_sold) as n_units,
    count(price) as n_prices
from plausible
group by product_id, store_id
