{#- Use the configured schema name as is (staging, features) instead of dbt's default
    "<target schema>_<custom schema>", so the warehouse reads raw.*, staging.*, features.* -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name if custom_schema_name else target.schema }}
{%- endmacro %}
