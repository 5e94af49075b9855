{#
    "Member at t" (docs/rules.md §4): user u is a member of group g at instant t iff the latest
    membership event of (g, u) with event_time <= t is a join. The attribution job turns
    the events into intervals [joined_at, left_at) (left_at null while still a member),
    so the rule is: t is inside one of the user's intervals. The only place it is written.
#}
{% macro is_member_at(intervals, instant) -%}
    (
        {{ instant }} >= {{ intervals }}.joined_at
        and ({{ intervals }}.left_at is null or {{ instant }} < {{ intervals }}.left_at)
    )
{%- endmacro %}
