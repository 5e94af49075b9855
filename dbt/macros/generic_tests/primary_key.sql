{#
    `key` identifies a row: no two rows share it (nulls compare equal, as in GROUP BY,
    for the few keys with a nullable part), and none of the required columns `not_null`
    holds a null.
    One query, one dbt node per model: a nightly build runs every data test on every
    date, and each node has a fixed cost in dbt whatever its query (docs/warehouse.md).
    A failure returns one row per broken rule: ('not null', the column, rows holding a
    null) or ('unique', the key's columns, key values held by more than one row).
#}
{% test primary_key(model, key, not_null) %}

with null_counts as (
    select
    {%- for column in not_null %}
        sum(case when {{ column }} is null then 1 else 0 end) as {{ column }}{{ "," if not loop.last }}
    {%- endfor %}
    from {{ model }}
),

duplicate_keys as (
    select count(*) as keys
    from (
        select {{ key | join(', ') }}
        from {{ model }}
        group by {{ key | join(', ') }}
        having count(*) > 1
    ) as duplicated
)

{% for column in not_null %}
select 'not null' as failed_check, '{{ column }}' as column_name, {{ column }} as failing_rows
from null_counts
where {{ column }} > 0
union all
{% endfor %}
select 'unique' as failed_check, '{{ key | join(", ") }}' as column_name, keys as failing_rows
from duplicate_keys
where keys > 0

{% endtest %}
