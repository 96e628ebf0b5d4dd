-- One row per dated event and scope (store, category; null: every one); the newest ingest wins.
with ranked as (
    select
        cast(date as date) as date,
        trim(event) as event,
        nullif(trim(store_id), '') as store_id,
        nullif(trim(category), '') as category,
        row_number() over (
            partition by cast(date as date), trim(event), nullif(trim(store_id), ''), nullif(trim(category), '')
            order by ingested_at desc, source_file, source_line
        ) as rn
    from {{ source('raw', 'events') }}
    where date is not null and event is not null
)
select date, event, store_id, category
from ranked
where rn = 1
