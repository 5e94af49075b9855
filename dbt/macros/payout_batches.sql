{#
    Finance's payout batches (docs/rules.md §5): how a batch is sized, named and dated.
    payout_ledger numbers the batches; these macros only spell the rule's values.
#}

{# The most detail rows in one batch file (payout.max_rows_per_file). #}
{% macro payout_max_rows_per_file() -%}
    {{ _int_var("payout_max_rows_per_file") }}
{%- endmacro %}

{#
    '<campaign_id>_<export_ds>_<batch number, at least 3 digits>': from campaign, date and
    number only, so a batch id is never given to another batch.
#}
{% macro payout_batch_id(export_ds, batch_number) -%}
    {{ campaign_id() }} || '_' || cast({{ export_ds }} as varchar) || '_'
    || lpad(
        cast({{ batch_number }} as varchar),
        cast(greatest(3, length(cast({{ batch_number }} as varchar))) as integer),
        '0'
    )
{%- endmacro %}

{% macro payout_file_name(export_ds, batch_number) -%}
    'payouts_' || {{ payout_batch_id(export_ds, batch_number) }} || '.csv'
{%- endmacro %}

{# The campaign-timezone date of an instant. #}
{% macro local_date(instant) -%}
    {%- set zone = _checked_var("timezone", '[A-Za-z0-9_+/-]+', 'Asia/Shanghai') -%}
    cast(({{ instant }}) at time zone '{{ zone }}' as date)
{%- endmacro %}

{#
    When the nightly run of a date is scheduled: the next day at nightly_run_at in the
    campaign timezone (grouprebate.calendar.RUN_AT), the earliest its payout file exists.
#}
{% macro nightly_run_at(day) -%}
    {%- set zone = _checked_var("timezone", '[A-Za-z0-9_+/-]+', 'Asia/Shanghai') -%}
    {%- set at = _checked_var("nightly_run_at", '[0-9]{2}:[0-9]{2}:[0-9]{2}', '02:00:00') -%}
    ((cast({{ day }} + 1 as timestamp) + cast('{{ at }}' as interval)) at time zone '{{ zone }}')
{%- endmacro %}
