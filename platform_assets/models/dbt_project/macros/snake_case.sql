{# Every column of a relation, renamed to snake_case (Postscript's upper-case names); the
   loader's lineage columns become file_date, source_file, loaded_at. #}
{% macro snake_case_columns(relation) -%}
    {%- set columns = adapter.get_columns_in_relation(relation) -%}
    {%- for c in columns -%}
        "{{ c.name }}" AS {{ c.name.lower().lstrip('_') }}{{ ", " if not loop.last }}
    {%- endfor -%}
{%- endmacro %}
