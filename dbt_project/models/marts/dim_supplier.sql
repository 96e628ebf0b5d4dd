-- Known suppliers, plus one placeholder per supplier_id the catalog references but the supplier
-- feed lacks (is_known = false), so every product's supplier resolves.
select supplier_id, name, country, true as is_known
from {{ ref('stg_suppliers') }}
union all
select distinct p.supplier_id, cast(null as varchar) as name, cast(null as varchar) as country, false as is_known
from {{ ref('stg_products') }} as p
left join {{ ref('stg_suppliers') }} as s on p.supplier_id = s.supplier_id
where p.supplier_id is not null and s.supplier_id is null
