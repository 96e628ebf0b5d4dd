-- Actual rows (or transaction lines) summed to one row per series and period. Unit price is
-- revenue over units where the feed has revenue (tafeng: SALES_PRICE is the line total), else the
-- mean observed price. Plan rows (no target) never count as sales: int_price_plans takes them.
-- Incremental: a period only depends on its own rows, so a run rebuilds just the periods it ingested;
-- the pre-hook drops them first, so a row that vanished from the source vanishes here too.
-- Excluded rows (int_observations: outliers, products not in the catalog) never count.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['product_id', 'store_id', 'period_date'],
        pre_hook="{% if is_incremental() %}delete from {{ this }}
            where {{ in_refreshed_periods('period_date') }}{% endif %}",
        post_hook="{{ analyze_on_postgres() }}",
    )
}}
select
    product_id,
    store_id,
    period_date,
    sum(units_sold) as units_sold,
    coalesce(
        sum(sales_amount) / nullif(sum(case when sales_amount is not null then units_sold end), 0),
        avg(price)
    ) as price,
    bool_or(coalesce(on_promo, false)) as on_promo,
    count(*) as n_rows
from {{ ref('int_observations') }}
where is_actual and exclusion_reason is null
{%- if is_incremental() %}
  and {{ in_refreshed_periods('period_date') }}
{%- endif %}
group by product_id, store_id, period_date
