-- Forecasts already served, scored against the actuals that have arrived since: one row per
-- generation and horizon step. The sums sit next to the ratios so a rolling window over target dates
-- re-aggregates exactly (WAPE = sum(abs_error) / sum(actual_total)).
-- Incremental: the pre-hook drops the rows whose target period the run rebuilt (or that fell past the
-- last actual); the model scores only forecasts without a row (those, and generations not yet scored).
-- A model version's backtest rows are written once, with the version, so older rows stay valid.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['generation_id', 'horizon'],
        on_schema_change='append_new_columns',
        pre_hook="{% if is_incremental() %}delete from {{ this }} where target_date >= {{ refresh_start() }}
            or target_date > (select max(period_date) from {{ ref('fct_product_sales') }}){% endif %}",
        post_hook="{{ analyze_on_postgres() }}",
    )
}}
{#- Bands besides p10-p90 that both the forecasts and the backtest carry (SHELFCAST_LEVELS): each gets
    its own live and backtest coverage columns. -#}
{%- set backtest_bands = extra_bands(source('model_evaluation', 'backtest_predictions')) | map(attribute='label') | list -%}
{%- set bands = [] -%}
{%- for band in extra_bands(source('ml', 'forecasts')) if band.label in backtest_bands -%}
    {%- do bands.append(band) -%}
{%- endfor %}
with backtest as (
    select * from {{ source('model_evaluation', 'backtest_predictions') }}
),

-- MASE scale of each series as the model version saw it at its newest backtest origin.
series_scale as (
    select model_version, product_id, store_id, mase_scale
    from (
        select
            model_version, product_id, store_id, mase_scale,
            row_number() over (
                partition by model_version, product_id, store_id order by origin desc, period_date desc
            ) as newest
        from backtest
    ) as ranked
    where newest = 1
),

backtest_by_horizon as (
    select
        model_version,
        horizon,
        sum(abs(y - p50)) / nullif(sum(abs(y)), 0) as backtest_wape,
        avg(case when y >= p10 and y <= p90 then 1.0 else 0.0 end) as backtest_coverage
        {%- for band in bands %},
        avg(case when {{ band.lower }} is null or {{ band.upper }} is null then null
            when y >= {{ band.lower }} and y <= {{ band.upper }} then 1.0 else 0.0 end)
            as backtest_coverage_{{ band.label }}
        {%- endfor %}
    from backtest
    group by model_version, horizon
),

-- The forecasts to score: all of them, or (incremental) those of a generation and step without a row.
forecasts as (
    select f.*
    from {{ source('ml', 'forecasts') }} as f
    {%- if is_incremental() %}
    where not exists (
        select 1 from {{ this }} as t where t.generation_id = f.generation_id and t.horizon = f.horizon
    )
    {%- endif %}
),

scored as (
    select
        f.generation_id,
        f.model_version,
        f.generated_at,
        f.horizon,
        f.target_date,
        a.{{ var('target') }} as actual,
        f.p10,
        f.p50,
        f.p90,
        {%- for band in bands %}
        f.{{ band.lower }},
        f.{{ band.upper }},
        {%- endfor %}
        s.mase_scale
    from forecasts as f
    inner join {{ ref('fct_product_sales') }} as a
        on a.product_id = f.product_id and a.store_id = f.store_id and a.period_date = f.target_date
    left join series_scale as s
        on s.model_version = f.model_version and s.product_id = f.product_id and s.store_id = f.store_id
    where a.{{ var('target') }} is not null and not a.is_missing
)

select
    s.generation_id,
    s.model_version,
    min(s.generated_at) as generated_at,
    s.horizon,
    min(s.target_date) as target_date,
    count(*) as n_forecasts,
    sum(abs(s.actual - s.p50)) as abs_error,
    sum(abs(s.actual)) as actual_total,
    sum(abs(s.actual - s.p50)) / nullif(sum(abs(s.actual)), 0) as wape,
    avg(case when s.mase_scale > 0 then abs(s.actual - s.p50) / s.mase_scale end) as mase,
    count(case when s.mase_scale > 0 then 1 end) as n_mase,
    sum(case when s.actual >= s.p10 and s.actual <= s.p90 then 1 else 0 end) as n_covered,
    avg(case when s.actual >= s.p10 and s.actual <= s.p90 then 1.0 else 0.0 end) as coverage_p10_p90,
    max(b.backtest_wape) as backtest_wape,
    max(b.backtest_coverage) as backtest_coverage
    {%- for band in bands %},
    {#- null for a generation made before the band was configured -#}
    sum(case when s.{{ band.lower }} is null or s.{{ band.upper }} is null then null
        when s.actual >= s.{{ band.lower }} and s.actual <= s.{{ band.upper }} then 1 else 0 end)
        as n_covered_{{ band.label }},
    avg(case when s.{{ band.lower }} is null or s.{{ band.upper }} is null then null
        when s.actual >= s.{{ band.lower }} and s.actual <= s.{{ band.upper }} then 1.0 else 0.0 end)
        as coverage_{{ band.label }},
    max(b.backtest_coverage_{{ band.label }}) as backtest_coverage_{{ band.label }}
    {%- endfor %}
from scored as s
left join backtest_by_horizon as b
    on b.model_version = s.model_version and b.horizon = s.horizon
group by s.generation_id, s.model_version, s.horizon
