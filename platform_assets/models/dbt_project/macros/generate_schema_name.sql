{# Schemas are the folder's name (staging, identity, marts), not "<target>_<folder>". #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name if custom_schema_name is not none else target.schema }}
{%- endmacro %}
