-- Each series' observed span: the grid runs from first_date, plans start after last_actual_date.
-- A table: one row per series over its whole history (read from the period rows, not the raw lines).
-- Only products in the catalog have a series: periods built before a product left the catalog stay in
-- the incremental int_sales_by_period, but never reach the marts or a forecast.
select
    s.product_id,
    s.store_id,
    min(s.period_date) as first_date,
    max(s.period_date) as last_actual_date,
    count(*) as n_observed
from {{ ref('int_sales_by_period') }} as s
inner join {{ ref('stg_products') }} as p on s.product_id = p.product_id
group by s.product_id, s.store_id
