-- The complete period grid per series, from its first actual to the global last actual period:
-- units are 0 where nothing was sold, price carries the last known price forward.
with bounds as (
    select min(first_date) as lo, max(last_actual_date) as hi from {{ ref('int_series') }}
),

spine as (
    {{ period_spine('bounds', 'lo', 'hi') }}
),

grid as (
    select s.product_id, s.store_id, p.period_date
    from {{ ref('int_series') }} as s
    inner join spine as p on p.period_date >= s.first_date
),

joined as (
    select
        g.product_id,
        g.store_id,
        g.period_date,
        o.units_sold,
        o.price,
        o.on_promo,
        o.product_id is not null as is_observed,
        -- a new group starts at every known price: the group's only non-null price fills it
        count(o.price) over (
            partition by g.product_id, g.store_id order by g.period_date rows unbounded preceding
        ) as price_group
    from grid as g
    left join {{ ref('int_sales_by_period') }} as o
        on g.product_id = o.product_id and g.store_id = o.store_id and g.period_date = o.period_date
)

select
    product_id,
    store_id,
    period_date,
    coalesce(units_sold, 0) as units_sold,
    max(price) over (partition by product_id, store_id, price_group) as price,
    coalesce(on_promo, false) as on_promo,
    is_observed
from joined
