-- The quarantine, typed: what was refused, where it came from and why; for observations, the series
-- and period the row concerns where its keys parsed (null otherwise: it cannot be placed).
select
    source,
    file,
    line,
    reason,
    record,
    nullif(trim(product_id), '') as product_id,
    nullif(trim(store_id), '') as store_id,
    cast("date" as date) as obs_date,
    {{ period_of('"date"') }} as period_date,
    ingest_partition,
    ingested_at
from {{ source('raw', 'rejected_rows') }}
