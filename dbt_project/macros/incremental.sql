{#- Incremental builds over the periods a run re-ingested. warehouse_models passes the run's monthly
    ingest partitions as vars refresh_from / refresh_until (first days of the first and last month);
    without them (a hand-run `dbt build`) the window is the whole history, so a build stays correct. -#}

{#- The first period the run's partitions touch (a week straddling a month edge counts). -#}
{% macro refresh_start() -%}
    {{ period_of("cast('" ~ var('refresh_from', '1900-01-01') ~ "' as date)") }}
{%- endmacro %}

{#- `col` (a period label) is one of the periods the run's partitions touch. -#}
{% macro in_refreshed_periods(col) -%}
    {{ col }} >= {{ refresh_start() }}
    {%- if var('refresh_until', none) %}
    and {{ col }} <= {{ period_of("cast('" ~ var('refresh_until') ~ "' as date) + interval '1 month' - interval '1 day'") }}
    {%- endif %}
{%- endmacro %}

{#- The first grid period to rebuild: the run's first period, or the period after the grid's current
    end when that comes earlier (months without actuals before the run's partitions). -#}
{% macro grid_refresh_start() -%}
    least({{ refresh_start() }}, coalesce((select {{ period_add('max(period_date)', 1) }} from {{ this }}), {{ refresh_start() }}))
{%- endmacro %}

{#- Tests on incremental models (and on the raw rows) check what the run rebuilt (re-ingested), not the
    whole history again: in a test's `where` config, `__refresh_start__` becomes the run's first period
    and `__refresh_from__` its first partition key; a run without a window (a full build) tests every
    row. Overrides dbt's own macro. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') or '' -%}
    {%- if '__refresh_' in where -%}
        {%- if var('refresh_from', none) -%}
            {%- set where = where | replace('__refresh_start__', refresh_start())
                | replace('__refresh_from__', "'" ~ var('refresh_from') ~ "'") -%}
        {%- else -%}
            {%- set where = '' -%}
        {%- endif -%}
    {%- endif -%}
    {%- if where -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}

{#- Post-hook of an incremental model: fresh Postgres statistics for the periods just inserted (autovacuum
    waits for 10% of the rows to change; a stale histogram plans the next run's joins as nested loops). -#}
{% macro analyze_on_postgres() -%}
    {%- if target.type == 'postgres' -%} analyze {{ this }} {%- endif -%}
{%- endmacro %}
