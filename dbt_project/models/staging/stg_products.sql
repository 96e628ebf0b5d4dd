-- One row per product (the newest ingest wins), names trimmed, categories defaulted.
with ranked as (
    select
        trim(product_id) as product_id,
        nullif(trim(name), '') as name,
        coalesce(nullif(trim(category), ''), 'unknown') as category,
        nullif(trim(brand), '') as brand,
        nullif(trim(supplier_id), '') as supplier_id,
        attributes,
        row_number() over (partition by trim(product_id) order by ingested_at desc, source_line) as rn
    from {{ source('raw', 'products') }}
    where product_id is not null
)
select product_id, name, category, brand, supplier_id, attributes
from ranked
where rn = 1
