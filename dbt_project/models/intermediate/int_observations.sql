-- Observation rows with `exclusion_reason`: null for the rows the warehouse uses, else why a row is
-- kept out of sales, plans and training (listed in marts.excluded_observations). A product missing
-- from the catalog (it changed between ingests) has no series, so no forecast outside dim_product.
-- A view: the incremental int_sales_by_period reads only the periods it rebuilds.
{{ config(materialized='view') }}
select
    o.*,
    case
        when p.product_id is null then 'product not in the catalog'
        when abs(o.units_sold) > {{ var('max_plausible_value') }} then 'units_sold above max_plausible_value'
        when abs(o.price) > {{ var('max_plausible_value') }} then 'price above max_plausible_value'
        when o.units_sold > b.units_sold_max then 'units_sold outlier: above the series bound'
        when o.price > b.price_max then 'price outlier: above the series bound'
        when o.price < b.price_min then 'price outlier: below the series bound'
    end as exclusion_reason,
    b.units_sold_max,
    b.price_min,
    b.price_max
from {{ ref('stg_observations') }} as o
left join {{ ref('stg_products') }} as p on o.product_id = p.product_id
left join {{ ref('int_series_bounds') }} as b on o.product_id = b.product_id and o.store_id = b.store_id
