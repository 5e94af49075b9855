{#
    None of `columns` holds a null. One query (one dbt node) per model instead of one
    per column: a nightly build runs every data test on every date, and each node has
    a fixed cost in dbt whatever its query (docs/warehouse.md). A failure returns one
    row naming each column that has nulls and how many rows hold one.
#}
{% test not_null_columns(model, columns) %}

with null_counts as (
    select
    {%- for column in columns %}
        sum(case when {{ column }} is null then 1 else 0 end) as {{ column }}{{ "," if not loop.last }}
    {%- endfor %}
    from {{ model }}
)

{% for column in columns %}
select '{{ column }}' as column_name, {{ column }} as null_rows
from null_counts
where {{ column }} > 0
{{ "union all" if not loop.last }}
{% endfor %}

{% endtest %}
