-- Each series' observed span: the grid runs from first_date, plans start after last_actual_date.
select
    product_id,
    store_id,
    min(period_date) as first_date,
    max(period_date) as last_actual_date,
    count(distinct period_date) as n_observed
from {{ ref('stg_observations') }}
where is_actual
group by product_id, store_id
