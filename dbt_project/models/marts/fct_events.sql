-- Events the features read as known-future calendar inputs (platform_assets/features/calendar.py).
select date, event, store_id, category
from {{ ref('stg_events') }}
