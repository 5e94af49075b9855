{#
    Schemas are exactly the folder's +schema (staging, intermediate, marts), never
    "<target schema>_marts": the marts schema name is a contract (docs/rules.md §5).
    GROUPREBATE_SCHEMA_PREFIX (default empty) prefixes every schema, for sandboxes
    and tests that share one Postgres database; production leaves it unset.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ schema_prefix() }}{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}

{% macro schema_prefix() -%}
    {{ env_var('GROUPREBATE_SCHEMA_PREFIX', '') }}
{%- endmacro %}
