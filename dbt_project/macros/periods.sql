{#- Period arithmetic for the configured grid, portable between DuckDB and Postgres; the Python twin is
    platform_assets/core/periods.py. A period is named by its label, one date:
      var freq          D, W or M
      var week_anchor   the weekday weeks are labelled by, 0 = Monday .. 6 = Sunday
      var period_label  start: the period's first day (W: Monday to Sunday; M); end: its last day (W-THU:
                        Friday to Thursday, labelled by the Thursday; ME: months by their last day) -#}

{% macro period_freq() -%}
    {%- set freq = var('freq') -%}
    {%- if freq not in ('D', 'W', 'M') -%}
        {{ exceptions.raise_compiler_error("var freq must be D, W or M, got " ~ freq) }}
    {%- endif -%}
    {{- return(freq) -}}
{%- endmacro %}

{#- True when periods are labelled by their last day. -#}
{% macro label_end() -%}
    {%- set label = var('period_label', 'start') -%}
    {%- if label not in ('start', 'end') -%}
        {{ exceptions.raise_compiler_error("var period_label must be start or end, got " ~ label) }}
    {%- endif -%}
    {{- return(label == 'end') -}}
{%- endmacro %}

{#- The weekday (0 = Monday) a week starts on: the anchor, or the day after it when the anchor ends it. -#}
{% macro week_first_weekday() -%}
    {%- set anchor = var('week_anchor', 0) | int -%}
    {%- if anchor < 0 or anchor > 6 -%}
        {{ exceptions.raise_compiler_error("var week_anchor must be 0 (Monday) .. 6 (Sunday), got " ~ anchor) }}
    {%- endif -%}
    {{- return((anchor + 1) % 7 if label_end() else anchor) -}}
{%- endmacro %}

{% macro period_interval() -%}
    {%- set freq = period_freq() -%}
    {%- if freq == 'D' -%} interval '1 day'
    {%- elif freq == 'W' -%} interval '7 day'
    {%- else -%} interval '1 month'
    {%- endif -%}
{%- endmacro %}

{#- The first day of the month holding `date_expr`, as a timestamp. -#}
{% macro month_of(date_expr) -%}
    date_trunc('month', cast({{ date_expr }} as timestamp))
{%- endmacro %}

{#- The label of the period holding `date_expr`. -#}
{% macro period_of(date_expr) -%}
    {%- set freq = period_freq() -%}
    {%- if freq == 'D' -%} cast({{ date_expr }} as date)
    {%- elif freq == 'W' -%}
        {#- back to the week's first day ((isodow - 1 - first) mod 7 days), then on to its label -#}
        {%- set day = 'cast(' ~ date_expr ~ ' as date)' -%}
        cast({{ day }} - cast((extract(isodow from {{ day }}) + {{ 6 - week_first_weekday() }}) % 7 as integer)
            + {{ 6 if label_end() else 0 }} as date)
    {%- elif label_end() -%} cast({{ month_of(date_expr) }} + interval '1 month' - interval '1 day' as date)
    {%- else -%} cast({{ month_of(date_expr) }} as date)
    {%- endif -%}
{%- endmacro %}

{#- The label `n` periods after (n < 0: before) the label `date_expr`. -#}
{% macro period_add(date_expr, n) -%}
    {%- if period_freq() == 'M' and label_end() -%}
        cast({{ month_of(date_expr) }} + (({{ n }}) + 1) * interval '1 month' - interval '1 day' as date)
    {%- else -%}
        cast({{ date_expr }} + ({{ n }}) * {{ period_interval() }} as date)
    {%- endif -%}
{%- endmacro %}

{#- One row per period label between two label columns of a relation, inclusive. Month ends are
    stepped from the months' first days: a month added to the 31st is not always a month end. -#}
{% macro period_spine(bounds_relation, lo, hi) -%}
    {%- set month_ends = period_freq() == 'M' and label_end() -%}
    {%- set lo_ts = month_of('b.' ~ lo) if month_ends else 'cast(b.' ~ lo ~ ' as timestamp)' -%}
    {%- set hi_ts = month_of('b.' ~ hi) if month_ends else 'cast(b.' ~ hi ~ ' as timestamp)' -%}
    {%- set shift = " + interval '1 month' - interval '1 day'" if month_ends else '' -%}
    {{ return(adapter.dispatch('period_spine', 'shelfcast')(bounds_relation, lo_ts, hi_ts, shift)) }}
{%- endmacro %}

{% macro default__period_spine(bounds_relation, lo_ts, hi_ts, shift) -%}
    select cast(s.period_ts{{ shift }} as date) as period_date
    from {{ bounds_relation }} as b
    cross join lateral generate_series({{ lo_ts }}, {{ hi_ts }}, {{ period_interval() }}) as s(period_ts)
{%- endmacro %}

{% macro duckdb__period_spine(bounds_relation, lo_ts, hi_ts, shift) -%}
    select cast(unnest(generate_series({{ lo_ts }}, {{ hi_ts }}, {{ period_interval() }})){{ shift }} as date)
        as period_date
    from {{ bounds_relation }} as b
{%- endmacro %}
