-- Plans: rows dated after a series' last actual (planned prices, the promotion calendar).
select
    o.product_id,
    o.store_id,
    o.period_date,
    avg(o.price) as price,
    bool_or(coalesce(o.on_promo, false)) as on_promo
from {{ ref('int_observations') }} as o
left join {{ ref('int_series') }} as s
    on o.product_id = s.product_id and o.store_id = s.store_id
where not o.is_actual
  and o.exclusion_reason is null
  and (s.last_actual_date is null or o.period_date > s.last_actual_date)
group by o.product_id, o.store_id, o.period_date
