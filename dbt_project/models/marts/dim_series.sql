-- Every series with its span; active series (sold recently) are the ones forecast.
with last_period as (
    select max(last_actual_date) as global_last from {{ ref('int_series') }}
)
select
    s.product_id,
    s.store_id,
    coalesce(p.category, 'unknown') as category,
    s.first_date,
    s.last_actual_date,
    s.n_observed,
    s.last_actual_date > {{ period_add('l.global_last', '-' ~ var('active_window_periods')) }} as is_active
from {{ ref('int_series') }} as s
cross join last_period as l
left join {{ ref('stg_products') }} as p on s.product_id = p.product_id
