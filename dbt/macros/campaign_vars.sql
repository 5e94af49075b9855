{#
    The campaign rules as SQL literals. Their values come from the campaign config
    through --vars, built by grouprebate.warehouse.dbt_runner.build_vars; a missing var fails
    the compilation ("Required var ... not found"), so no rule has a stale default.
    Each macro checks the shape of its value, so a var can never inject SQL.
#}

{% macro _checked_var(name, pattern, example) -%}
    {%- set value = var(name) | string -%}
    {%- if not modules.re.fullmatch(pattern, value) -%}
        {{ exceptions.raise_compiler_error(
            "var " ~ name ~ " = " ~ value ~ " is not like " ~ example
            ~ "; build the vars with grouprebate.warehouse.dbt_runner.build_vars") }}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}

{% macro _date_var(name) -%}
    {{ return(_checked_var(name, '[0-9]{4}-[0-9]{2}-[0-9]{2}', '2018-11-12')) }}
{%- endmacro %}

{% macro _int_var(name) -%}
    {{ return(_checked_var(name, '[0-9]{1,18}', '120') | int) }}
{%- endmacro %}

{# The run date: only lake partitions with ds <= this date are visible. #}
{% macro run_ds() -%}
    cast('{{ _date_var("ds") }}' as date)
{%- endmacro %}

{#
    The rows of a lake or attribution table that the run date may read: its partitions
    up to run_ds. Every staging model reads its table through this, so a re-run of a date
    never sees what later dates wrote.
#}
{% macro partitions_through_run_ds(relation) -%}
    select * from {{ relation }}
    where cast(ds as date) <= {{ run_ds() }}
{%- endmacro %}

{# The date of draw_open: its attribution partition is the frozen snapshot. #}
{% macro freeze_ds() -%}
    cast('{{ _date_var("freeze_ds") }}' as date)
{%- endmacro %}

{# The last nightly run; forfeitures are final from this run on. #}
{% macro calendar_end() -%}
    cast('{{ _date_var("calendar_end") }}' as date)
{%- endmacro %}

{% macro draw_open() -%}
    {%- set value = _checked_var(
        "draw_open", '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})',
        '2018-11-12T16:00:00+08:00') -%}
    cast('{{ value }}' as timestamptz)
{%- endmacro %}

{# The end of the run date in the campaign timezone, as an instant. #}
{% macro run_ds_end() -%}
    {%- set zone = _checked_var("timezone", '[A-Za-z0-9_+/-]+', 'Asia/Shanghai') -%}
    (cast({{ run_ds() }} + 1 as timestamp) at time zone '{{ zone }}')
{%- endmacro %}

{% macro claim_window() -%}
    interval '{{ _int_var("claim_window_hours") }} hours'
{%- endmacro %}

{% macro payout_sla() -%}
    interval '{{ _int_var("payout_sla_hours") }} hours'
{%- endmacro %}

{% macro red_packet_cap_fen() -%}
    cast({{ _int_var("red_packet_cap_fen") }} as bigint)
{%- endmacro %}

{% macro draw_winner_count() -%}
    {{ _int_var("draw_winner_count") }}
{%- endmacro %}

{# A text var as a quoted SQL string literal. #}
{% macro text_literal(value) -%}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}

{% macro campaign_id() -%}
    {{ text_literal(var("campaign_id")) }}
{%- endmacro %}

{#
    The draw seed, secret until the draw: grouprebate.warehouse passes it only to
    runs with ds >= freeze_ds. Returns none when absent (the draw then has no winners).
    Compiled SQL under dbt/target holds the seed after the draw (target/ is git-ignored).
#}
{% macro draw_seed() -%}
    {{ return(var("draw_seed", none)) }}
{%- endmacro %}

{# SHA-256 of the seed, published before the draw; null when not given. #}
{% macro draw_seed_sha256() -%}
    {%- set value = var("draw_seed_sha256", none) -%}
    {%- if value is none -%}
        cast(null as varchar)
    {%- else -%}
        '{{ _checked_var("draw_seed_sha256", '[0-9a-f]{64}', 'a 64-digit lowercase hex digest') }}'
    {%- endif -%}
{%- endmacro %}
