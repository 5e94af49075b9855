"""`grouprebate run`: the real nightly DAG executed locally, date after date, in one process."""
