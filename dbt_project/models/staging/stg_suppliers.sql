-- One row per supplier (the newest ingest wins).
with ranked as (
    select
        trim(supplier_id) as supplier_id,
        nullif(trim(name), '') as name,
        nullif(trim(country), '') as country,
        row_number() over (partition by trim(supplier_id) order by ingested_at desc, source_line) as rn
    from {{ source('raw', 'suppliers') }}
    where supplier_id is not null
)
select supplier_id, name, country
from ranked
where rn = 1
