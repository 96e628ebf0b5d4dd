-- The newest forecast generation only (one generation shares one generated_at): what dashboards
-- and downstream systems read.
select f.*
from {{ source('ml', 'forecasts') }} as f
where f.generated_at = (select max(generated_at) from {{ source('ml', 'forecasts') }})
