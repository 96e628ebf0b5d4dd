-- Typed observation rows with their period; `is_actual` marks rows that carry the target.
select
    trim(product_id) as product_id,
    coalesce(nullif(trim(store_id), ''), 'all') as store_id,
    cast("date" as date) as obs_date,
    {{ period_of('"date"') }} as period_date,
    cast(price as double precision) as price,
    cast(units_sold as double precision) as units_sold,
    on_promo,
    cast(sales_amount as double precision) as sales_amount,
    {{ var('target') }} is not null as is_actual,
    source_file,
    source_line,
    ingest_partition
from {{ source('raw', 'observations') }}
