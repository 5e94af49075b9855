{#
    Tables and views on DuckDB are built with one `create or replace` statement.

    dbt-duckdb's own materializations build into a temporary relation, then rename the
    old one away, rename the new one in and drop the old one, with checks for foreign
    keys, indexes and grants around it. Each of those steps is an adapter call that
    builds dbt's whole macro context again, which costs about a sixth of a nightly
    build (docs/warehouse.md, benchmarks/results/dbt_materialization.json). DuckDB replaces a relation inside the statement's
    transaction, so a failed query leaves the previous relation in place, as the rename
    dance did. The project uses none of what the checks are for (constraints, indexes,
    grants). A relation of the other kind under the name is dropped first. Postgres
    keeps dbt's own materializations.

    A model with an enforced contract goes through dbt's contract macros, as dbt-duckdb's
    own create_table_as does: the query's column names and types are checked against the
    yml (the model fails on any difference), the table is created from the declared
    columns and constraints and filled from the query, in the same transaction.
#}

{% materialization table, adapter="duckdb" %}
    {%- set target_relation = this.incorporate(type="table") -%}
    {{ duckdb_replace(target_relation, "table", compiled_code) }}
    {{ return({"relations": [target_relation]}) }}
{% endmaterialization %}

{% materialization view, adapter="duckdb" %}
    {%- set target_relation = this.incorporate(type="view") -%}
    {{ duckdb_replace(target_relation, "view", compiled_code) }}
    {{ return({"relations": [target_relation]}) }}
{% endmaterialization %}

{% macro duckdb_replace(target_relation, kind, compiled_code) %}
    {%- set existing_relation = load_cached_relation(this) -%}
    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}
    {%- if existing_relation is not none and existing_relation.type != kind %}
        {{ drop_relation_if_exists(existing_relation) }}
    {%- endif %}
    {%- set contract = config.get("contract") %}
    {%- if contract.enforced %}
        {#- dbt's own check: the query's column names and types against the yml, or fail -#}
        {{ get_assert_columns_equivalent(compiled_code) }}
    {%- endif %}
    {% call statement("main") -%}
        {%- if contract.enforced and kind == "table" %}
        create or replace table {{ target_relation }} {{ get_table_columns_and_constraints() }};
        insert into {{ target_relation }} {{ get_column_names() }} (
            {{ get_select_subquery(compiled_code) }}
        )
        {%- else %}
        create or replace {{ kind }} {{ target_relation }} as (
            {{ compiled_code }}
        )
        {%- endif %}
    {%- endcall %}
    {% do persist_docs(target_relation, model) %}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
{% endmacro %}
