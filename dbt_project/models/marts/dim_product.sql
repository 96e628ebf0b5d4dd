-- The catalog users join to: one row per product.
select product_id, name, category, brand, supplier_id, attributes
from {{ ref('stg_products') }}
