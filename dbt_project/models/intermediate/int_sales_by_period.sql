-- Observation rows (or transaction lines) summed to one row per series and period, up to the
-- series' last actual period. Unit price is revenue over units where the feed has revenue
-- (tafeng: SALES_PRICE is the line total), else the mean observed price.
select
    o.product_id,
    o.store_id,
    o.period_date,
    sum(o.units_sold) as units_sold,
    coalesce(
        sum(o.sales_amount) / nullif(sum(case when o.sales_amount is not null then o.units_sold end), 0),
        avg(o.price)
    ) as price,
    bool_or(coalesce(o.on_promo, false)) as on_promo,
    count(*) as n_rows
from {{ ref('stg_observations') }} as o
inner join {{ ref('int_series') }} as s
    on o.product_id = s.product_id and o.store_id = s.store_id
where o.period_date <= s.last_actual_date
group by o.product_id, o.store_id, o.period_date
