-- Planned prices and promotions for the periods to forecast; the features use them.
select product_id, store_id, period_date, price, on_promo
from {{ ref('int_price_plans') }}
