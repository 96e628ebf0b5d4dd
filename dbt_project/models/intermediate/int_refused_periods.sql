-- Series-periods with a row the warehouse cannot use as an actual: a row refused at ingest whose
-- product, store and date parsed (raw.rejected_rows keeps them), or a row without the target dated
-- within its file's actuals (a blank units_sold cell; rows of a file after its last actual, or of a
-- file without actuals, are plans). Where no accepted actual of the same series-period exists,
-- fct_product_sales marks it missing: what was sold there is unknown, not a period without sales. Rows whose keys did not parse cannot be placed: they
-- stay counted as rejected (the run's verdict judges the rejected share).
{{ config(materialized='view') }}
with refused as (
    select r.product_id, r.store_id, r.period_date, 'rejected at ingest' as why
    from {{ ref('stg_rejected_rows') }} as r
    where r.source = 'observations'
      and r.product_id is not null and r.store_id is not null and r.period_date is not null
),

actual_files as (
    select o.source_file, max(o.obs_date) as last_actual
    from {{ ref('stg_observations') }} as o
    where o.is_actual
    group by o.source_file
),

untargeted as (
    select o.product_id, o.store_id, o.period_date, 'no target among actuals' as why
    from {{ ref('stg_observations') }} as o
    inner join actual_files as f on o.source_file = f.source_file and o.obs_date <= f.last_actual
    where not o.is_actual
)

select product_id, store_id, period_date, min(why) as why, count(*) as n_rows
from (select * from refused union all select * from untargeted) as u
group by product_id, store_id, period_date
