"""One Spark Connect session for a whole local run, lent to each `@task.pyspark` task.

The provider's operator opens a session per task (`getOrCreate()`) and stops it
afterwards, which releases the session on the server. Spark Connect gives every
session its own class loader, and Spark keys its cache of generated code by class
loader, so each task compiled and JIT-compiled its expression classes afresh
(docs/orchestration.md). Before each Spark task this makes a client for the run's
one session the default session, so the operator's `getOrCreate()` returns it; that
client does not release the session when the operator stops it, it only closes its
channel. The run releases the session once, at its end, while the server is up.

Production keeps the operator's own behaviour: this is only installed by
`grouprebate run`.
"""

from __future__ import annotations

import uuid

from pyspark.sql.connect.session import SparkSession


class RunSession:
    """The run's session on a Spark Connect server, and an Airflow listener that lends it."""

    def __init__(self, remote: str) -> None:
        self.url = f"{remote}/;session_id={uuid.uuid4()}"
        self._lent: SparkSession | None = None
        self.listener = self._listener()

    def __enter__(self) -> RunSession:
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def lend(self) -> SparkSession:
        """A new client of the run's session, made the default session of this process."""
        self._close_lent()
        session = SparkSession.builder.remote(self.url).create()
        session.release_session_on_close = False
        self._lent = session
        return session

    def release(self) -> None:
        """Release the run's session on the server (its caches, its class loader)."""
        self._close_lent()
        SparkSession.builder.remote(self.url).create().stop()

    def _close_lent(self) -> None:
        # The operator stops what it was lent; a task that failed before it ran did not.
        # A client left open would try to clean up at interpreter exit, against a
        # server that is gone by then, and retry.
        if self._lent is not None:
            self._lent.stop()
            self._lent = None

    def _listener(self):
        from airflow.listeners import hookimpl
        from airflow.providers.apache.spark.operators.spark_pyspark import PySparkOperator

        run_session = self

        class Listener:
            @hookimpl
            def on_task_instance_running(self, previous_state, task_instance):
                if isinstance(task_instance.task, PySparkOperator):
                    run_session.lend()

        return Listener()
