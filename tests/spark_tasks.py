"""The DAG's Spark jobs for some dates, through its Spark connection, in a process of their
own as an Airflow task runs them: `python -m tests.spark_tasks DATE...`.

Each task is executed by its own operator (`@task.pyspark(conn_id="spark_grouprebate")`),
which reads the connection from AIRFLOW_CONN_SPARK_GROUPREBATE, opens a session on its
master and stops it afterwards. Prints one JSON line per task: date, task and seconds.
The environment names the paths (GROUPREBATE_LANDING, _WORKDIR, _CONFIG).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time

SPARK_TASKS = ("ingest_landing", "attribute_orders")


def main(dates: list[str]) -> None:
    from grouprebate.calendar import logical_date_of
    from grouprebate.config import load_config
    from grouprebate.local.run import load_dag
    from grouprebate.paths import config_path

    config = load_config(config_path(), need_seed=False)
    for ds in map(dt.date.fromisoformat, dates):
        # Operators of a fresh parse for each date, as Airflow runs every task instance:
        # an operator keeps the keyword arguments of its last execution.
        dag = load_dag()
        for task_id in SPARK_TASKS:
            started = time.monotonic()
            dag.get_task(task_id).execute({"logical_date": logical_date_of(ds, config)})
            print(json.dumps({"ds": ds.isoformat(), "task": task_id,
                              "seconds": round(time.monotonic() - started, 2)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
