{#- The SQL twin of core/levels.py: the interval bands a relation carries besides the contract's p10 / p90
    (SHELFCAST_LEVELS 80,95 adds p2_5 / p97_5), read from the relation when the model runs, so the
    monitoring models follow the configured levels. Each band: {'label': '95', 'lower': 'p2_5',
    'upper': 'p97_5'}, narrowest first. Empty at parse time and for a relation without extra bands. -#}
{% macro extra_bands(relation) -%}
  {%- set names = [] -%}
  {%- if execute -%}
    {%- for column in adapter.get_columns_in_relation(relation) -%}
      {%- do names.append(column.name | lower) -%}
    {%- endfor -%}
  {%- endif -%}
  {%- set bands = [] -%}
  {%- for name in names if modules.re.fullmatch('p[0-9]+(_[0-9]+)?', name) -%}
    {%- set tail = name[1:] | replace('_', '.') | float -%}
    {%- set upper = 'p' ~ ('%g' | format(100 - tail)) | replace('.', '_') -%}
    {%- if tail < 50 and name != 'p10' and upper in names -%}
      {%- set level = '%g' | format(100 - 2 * tail) -%}
      {%- do bands.append({'label': level | replace('.', '_'), 'lower': name, 'upper': upper, 'tail': tail}) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(bands | sort(attribute='tail', reverse=true)) }}
{%- endmacro %}
