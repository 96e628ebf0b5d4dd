-- The newest forecast generation only (one generation shares one generated_at): what dashboards
-- and downstream systems read. A view: it is current the moment `forecasts` writes a generation,
-- whether or not this model runs again (Dagster still re-runs it, eagerly, to test the new rows).
{{ config(materialized='view') }}
select f.*
from {{ source('ml', 'forecasts') }} as f
where f.generated_at = (select max(generated_at) from {{ source('ml', 'forecasts') }})
