-- The periods each store has accepted actuals in, for any product. A period a store has none in is
-- MISSING (its file was quarantined, ignored or had no target column), not a period without sales:
-- fct_product_sales leaves its units null there instead of filling 0. A store is 'all' in feeds
-- without stores. Incremental like int_sales_by_period: a run rebuilds the periods it ingested.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['store_id', 'period_date'],
        pre_hook="{% if is_incremental() %}delete from {{ this }}
            where {{ in_refreshed_periods('period_date') }}{% endif %}",
        post_hook="{{ analyze_on_postgres() }}",
    )
}}
select
    store_id,
    period_date,
    count(*) as n_series,
    sum(n_rows) as n_rows
from {{ ref('int_sales_by_period') }}
{%- if is_incremental() %}
where {{ in_refreshed_periods('period_date') }}
{%- endif %}
group by store_id, period_date
