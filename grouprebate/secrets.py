"""Where the campaign's secrets come from: the draw seed and the pseudonym key.

Only from the environment variable the config names or, inside an Airflow deployment,
from Airflow's secrets backend (a Variable of that name, which Airflow also reads from
`AIRFLOW_VAR_<NAME>`); never from a file of the repository. A secret that is found is
registered with Airflow's secret masker when Airflow is loaded, so no task log prints it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping


def read_secret(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """The secret called `name`, or None when neither source holds it."""
    value = (os.environ if env is None else env).get(name)
    if not value and env is None:
        from airflow.sdk import Variable

        value = Variable.get(name, default=None)
    if value and "airflow.sdk" in sys.modules:
        from airflow.sdk.log import mask_secret

        mask_secret(value, name)
    return value or None
