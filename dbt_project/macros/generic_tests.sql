{#- Generic tests written here (no hub packages): ranges, combined keys, row-level rules. -#}

{% test accepted_range(model, column_name, min_value=none, max_value=none) %}
select *
from {{ model }}
where {{ column_name }} is not null
  and (
    {% if min_value is not none %} {{ column_name }} < {{ min_value }} {% else %} false {% endif %}
    or {% if max_value is not none %} {{ column_name }} > {{ max_value }} {% else %} false {% endif %}
  )
{% endtest %}

{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as n
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}

{% test expression_is_true(model, expression) %}
select *
from {{ model }}
where not ({{ expression }})
{% endtest %}

{#- The quantile columns a table holds (p2_5, p10, p50, p90, p97_5: whatever SHELFCAST_LEVELS made the
    pipeline write), in increasing order of their percent, never decreasing along a row. Read from the
    relation when the test runs, so the test follows the configured levels; a null (a level an older
    generation did not have) passes. -#}
{% test quantiles_ordered(model) %}
{%- set found = [] -%}
{%- if execute -%}
  {%- for column in adapter.get_columns_in_relation(model) -%}
    {%- set name = column.name | lower -%}
    {%- if modules.re.fullmatch('p[0-9]+(_[0-9]+)?', name) -%}
      {%- do found.append([name[1:] | replace('_', '.') | float, name]) -%}
    {%- endif -%}
  {%- endfor -%}
{%- endif -%}
{%- set ordered = found | sort -%}
select *
from {{ model }}
where false
{%- for i in range(ordered | length - 1) %}
  or {{ ordered[i][1] }} > {{ ordered[i + 1][1] }}
{%- endfor %}
{% endtest %}
