{#- Period arithmetic for the configured frequency, portable between DuckDB and Postgres. -#}

{% macro period_interval() -%}
    {%- set freq = var('freq') -%}
    {%- if freq == 'D' -%} interval '1 day'
    {%- elif freq == 'W' -%} interval '7 day'
    {%- elif freq == 'M' -%} interval '1 month'
    {%- else -%} {{ exceptions.raise_compiler_error("var freq must be D, W or M, got " ~ freq) }}
    {%- endif -%}
{%- endmacro %}

{#- The start of the period holding `date_expr` (weeks start on Monday). -#}
{% macro period_start(date_expr) -%}
    {%- set freq = var('freq') -%}
    {%- if freq == 'D' -%} cast({{ date_expr }} as date)
    {%- elif freq == 'W' -%} cast(date_trunc('week', {{ date_expr }}) as date)
    {%- elif freq == 'M' -%} cast(date_trunc('month', {{ date_expr }}) as date)
    {%- else -%} {{ exceptions.raise_compiler_error("var freq must be D, W or M, got " ~ freq) }}
    {%- endif -%}
{%- endmacro %}

{#- `date_expr` moved by `n` periods (n may be negative). -#}
{% macro period_add(date_expr, n) -%}
    cast({{ date_expr }} + ({{ n }}) * {{ period_interval() }} as date)
{%- endmacro %}

{#- One row per period start between two date expressions of a relation, inclusive. -#}
{% macro period_spine(bounds_relation, lo, hi) -%}
    {{ return(adapter.dispatch('period_spine', 'shelfcast')(bounds_relation, lo, hi)) }}
{%- endmacro %}

{% macro default__period_spine(bounds_relation, lo, hi) -%}
    select cast(s.period_ts as date) as period_date
    from {{ bounds_relation }} as b
    cross join lateral generate_series(
        cast(b.{{ lo }} as timestamp), cast(b.{{ hi }} as timestamp), {{ period_interval() }}
    ) as s(period_ts)
{%- endmacro %}

{% macro duckdb__period_spine(bounds_relation, lo, hi) -%}
    select cast(unnest(generate_series(
        cast(b.{{ lo }} as timestamp), cast(b.{{ hi }} as timestamp), {{ period_interval() }}
    )) as date) as period_date
    from {{ bounds_relation }} as b
{%- endmacro %}
