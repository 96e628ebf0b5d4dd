-- The newest forecast generation only: what dashboards and downstream systems read.
with newest as (
    select generation_id
    from {{ source('ml', 'forecasts') }}
    order by generated_at desc, generation_id desc
    limit 1
)
select f.*
from {{ source('ml', 'forecasts') }} as f
inner join newest as n on f.generation_id = n.generation_id
