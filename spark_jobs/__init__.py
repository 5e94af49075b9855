"""Spark jobs of the pipeline: each module with a `main()` is spark-submit-able."""
