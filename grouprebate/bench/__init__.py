"""Scale measurements of the pipeline, and the DuckDB peer that checks the Spark attribution."""
