{#
    No two rows share the same values in all of `combination_of_columns`
    (nulls compare equal, as in GROUP BY). Written here because dbt packages
    cannot be downloaded on the build machines.
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

select
    {{ combination_of_columns | join(', ') }},
    count(*) as occurrences
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1

{% endtest %}
