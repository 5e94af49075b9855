"""The warehouse: dbt builds of the marts (dbt_runner), the lake loaded into Postgres for
the postgres target (postgres_load), and reads of the built marts (marts)."""


class WarehouseError(RuntimeError):
    """A dbt invocation or a lake load that failed; the message says which step and why."""
