-- Observation rows the warehouse keeps out of sales, plans and training, with the reason and the
-- bounds they broke: nothing excluded goes unseen (rows refused at ingest are in raw.rejected_rows).
select
    product_id,
    store_id,
    obs_date,
    period_date,
    price,
    units_sold,
    is_actual,
    exclusion_reason,
    units_sold_max,
    price_min,
    price_max,
    source_file,
    source_line,
    ingest_partition
from {{ ref('int_observations') }}
where exclusion_reason is not null
