"""How a task fails: at once on an error waiting cannot fix, and loudly (one line in the
log, and a webhook post when one is configured)."""

from __future__ import annotations

import functools
import json
import logging
import os
import urllib.request
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)
WEBHOOK_ENV = "GROUPREBATE_ALERT_WEBHOOK"


def failure_summary(context: dict[str, Any]) -> str:
    ti = context.get("task_instance") or context.get("ti")
    error = context.get("exception")
    first_line = str(error).splitlines()[0] if error else "unknown error"
    return (
        f"grouprebate FAILED dag={getattr(ti, 'dag_id', '?')} task={getattr(ti, 'task_id', '?')} "
        f"run={context.get('run_id', '?')} try={getattr(ti, 'try_number', '?')}: {first_line}"
    )


def notify_failure(context: dict[str, Any]) -> None:
    """on_failure_callback: never raises, so a broken webhook cannot mask the real failure."""
    summary = failure_summary(context)
    log.error(summary)
    url = os.environ.get(WEBHOOK_ENV)
    if not url:
        return
    request = urllib.request.Request(
        url, data=json.dumps({"text": summary}).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5):
            pass
    except OSError as exc:
        log.warning("could not post the failure to %s: %s", WEBHOOK_ENV, exc)


def fails_fast(task_function: Callable[..., Any]) -> Callable[..., Any]:
    """Fail the task at once, retries or not, on an error waiting cannot fix (a broken
    gate, a conflict with what was published, a bad config); every other error keeps
    the task's retries. Wraps a TaskFlow function, under its `@task` decorator."""
    from grouprebate.config import ConfigError
    from grouprebate.errors import PermanentError

    @functools.wraps(task_function)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return task_function(*args, **kwargs)
        except (PermanentError, ConfigError) as exc:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc

    run.fails_fast = True
    return run
