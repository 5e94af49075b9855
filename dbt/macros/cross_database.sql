{#
    The few places where DuckDB and PostgreSQL spell the same thing differently.
    Models call these macros; no model is ever copied per warehouse.
#}

{# Lowercase hex SHA-256 of the UTF-8 bytes of a text expression. #}
{% macro sha256_hex(expression) -%}
    {{ return(adapter.dispatch('sha256_hex', 'grouprebate')(expression)) }}
{%- endmacro %}

{% macro duckdb__sha256_hex(expression) -%}
    sha256({{ expression }})
{%- endmacro %}

{% macro postgres__sha256_hex(expression) -%}
    encode(sha256(convert_to({{ expression }}, 'UTF8')), 'hex')
{%- endmacro %}

{% macro default__sha256_hex(expression) -%}
    {{ exceptions.raise_compiler_error("sha256_hex is not implemented for adapter " ~ adapter.type()) }}
{%- endmacro %}


{# An integer wide enough for fen x fen products (P * c_u can exceed 2^63 in theory). #}
{% macro wide_int(expression) -%}
    {{ return(adapter.dispatch('wide_int', 'grouprebate')(expression)) }}
{%- endmacro %}

{% macro duckdb__wide_int(expression) -%}
    cast({{ expression }} as hugeint)
{%- endmacro %}

{% macro postgres__wide_int(expression) -%}
    cast({{ expression }} as numeric(38, 0))
{%- endmacro %}

{% macro default__wide_int(expression) -%}
    {{ exceptions.raise_compiler_error("wide_int is not implemented for adapter " ~ adapter.type()) }}
{%- endmacro %}


{# Integer division of non-negative integers, rounding down; never a float. #}
{% macro int_div(dividend, divisor) -%}
    {{ return(adapter.dispatch('int_div', 'grouprebate')(dividend, divisor)) }}
{%- endmacro %}

{% macro duckdb__int_div(dividend, divisor) -%}
    (({{ dividend }}) // ({{ divisor }}))
{%- endmacro %}

{% macro postgres__int_div(dividend, divisor) -%}
    div({{ dividend }}, {{ divisor }})
{%- endmacro %}

{% macro default__int_div(dividend, divisor) -%}
    {{ exceptions.raise_compiler_error("int_div is not implemented for adapter " ~ adapter.type()) }}
{%- endmacro %}


{#
    A text expression that orders by its bytes (= by code point, as Python's sorted()),
    whatever the database's collation: ties broken "by smallest user_id" must agree
    on every warehouse and with the Python reference.
#}
{% macro bytewise(expression) -%}
    {{ return(adapter.dispatch('bytewise', 'grouprebate')(expression)) }}
{%- endmacro %}

{% macro duckdb__bytewise(expression) -%}
    {{ expression }}
{%- endmacro %}

{% macro postgres__bytewise(expression) -%}
    ({{ expression }} collate "C")
{%- endmacro %}

{% macro default__bytewise(expression) -%}
    {{ exceptions.raise_compiler_error("bytewise is not implemented for adapter " ~ adapter.type()) }}
{%- endmacro %}
