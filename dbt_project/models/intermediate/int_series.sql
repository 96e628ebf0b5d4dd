-- Each series' observed span: the grid runs from first_date, plans start after last_actual_date.
-- A table: one row per series over its whole history (read from the period rows, not the raw lines).
select
    product_id,
    store_id,
    min(period_date) as first_date,
    max(period_date) as last_actual_date,
    count(*) as n_observed
from {{ ref('int_sales_by_period') }}
group by product_id, store_id
