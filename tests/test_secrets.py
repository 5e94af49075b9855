"""Secrets come from the environment or Airflow's secrets backend, and are masked."""

from __future__ import annotations

from grouprebate.secrets import read_secret


def test_a_secret_comes_from_the_named_environment_variable(monkeypatch):
    monkeypatch.setenv("GROUPREBATE_TEST_SECRET", "s3cr3t-from-env")
    assert read_secret("GROUPREBATE_TEST_SECRET") == "s3cr3t-from-env"
    assert read_secret("GROUPREBATE_TEST_SECRET", {}) is None


def test_a_secret_comes_from_airflows_secrets_backend_when_the_variable_is_unset(monkeypatch):
    monkeypatch.delenv("GROUPREBATE_TEST_SECRET", raising=False)
    # Airflow's environment-variables secrets backend: AIRFLOW_VAR_<NAME>
    monkeypatch.setenv("AIRFLOW_VAR_GROUPREBATE_TEST_SECRET", "s3cr3t-from-airflow")
    assert read_secret("GROUPREBATE_TEST_SECRET") == "s3cr3t-from-airflow"


def test_a_missing_secret_is_none(monkeypatch):
    monkeypatch.delenv("GROUPREBATE_NO_SUCH_SECRET", raising=False)
    monkeypatch.delenv("AIRFLOW_VAR_GROUPREBATE_NO_SUCH_SECRET", raising=False)
    assert read_secret("GROUPREBATE_NO_SUCH_SECRET") is None


def test_a_secret_read_is_masked_in_airflows_logs(monkeypatch):
    from airflow.sdk.log import mask_logs  # the processor every task log line goes through

    monkeypatch.setenv("GROUPREBATE_TEST_SECRET", "masked-seed-0123456789")
    secret = read_secret("GROUPREBATE_TEST_SECRET")
    line = mask_logs(None, "info", {"event": f"the seed is {secret}"})["event"]
    assert secret not in line and "***" in line
