{# Every row satisfies the boolean SQL `expression` (a row-level business rule). #}
{% test expression_is_true(model, expression) %}

select *
from {{ model }}
where not ({{ expression }})

{% endtest %}
