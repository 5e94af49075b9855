"""docker-compose.yml is valid Compose and holds the stack docs/deploy.md describes.

No container engine runs on the build machines, so the file is checked as Docker Compose
checks it before starting anything: its variables interpolated (from .env.example, with
a value for every secret), then validated against the Compose Specification's JSON schema
(vendored in tests/fixtures/compose-spec/, with its source and licence).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "tests" / "fixtures" / "compose-spec" / "compose-spec.json"
AIRFLOW = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
           "airflow-triggerer")
SPARK = ("spark-master", "spark-worker-1", "spark-worker-2")
DATABASES = ("airflow-db", "warehouse")
SHARED = {"landing": "/data/landing", "lake": "/data/work/lake",
          "exports": "/data/work/exports"}
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}; $$ is a $.
VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def lock_version(package: str) -> str:
    text = (ROOT / "requirements" / "constraints.txt").read_text()
    return re.search(rf"^{re.escape(package)}==(\S+)$", text, re.M).group(1)


def env_example() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines()
             if line and not line.startswith("#"))
    return {name: value for name, value in pairs}


def interpolate(value, env: dict[str, str]):
    """Compose's variable interpolation, over every string of the document."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match) -> str:
        if match.group() == "$$":
            return "$"
        name, operator, argument = match.groups()
        found = env.get(name)
        unset = found is None or (found == "" and (operator or "").startswith(":"))
        if operator and operator.endswith("?"):
            if unset:
                raise ValueError(f"required variable {name} is not set: {argument}")
            return found
        if operator and operator.endswith("-"):
            return argument if unset else found
        return found or ""

    return VARIABLE.sub(one, value)


@pytest.fixture(scope="module")
def secrets_set() -> dict[str, str]:
    """.env.example with a value for every empty variable (the secrets a user sets)."""
    return {name: value or f"set-{name.lower()}" for name, value in env_example().items()}


@pytest.fixture(scope="module")
def compose(secrets_set) -> dict:
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return interpolate(document, secrets_set)


def test_the_compose_file_is_valid_against_the_compose_specification(compose):
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validators.validator_for(schema)(schema).validate(compose)


def test_the_schema_rejects_what_compose_rejects(compose):
    """The validation has teeth: a misspelt key and a bad condition fail it."""
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    broken = json.loads(json.dumps(compose))
    broken["services"]["spark-master"]["healthchek"] = broken["services"]["spark-master"].pop(
        "healthcheck")
    assert not validator.is_valid(broken)
    broken = json.loads(json.dumps(compose))
    broken["services"]["airflow-scheduler"]["depends_on"]["airflow-init"]["condition"] = \
        "service_done"
    assert not validator.is_valid(broken)


def test_every_service_of_the_stack_is_there_with_health_checks_and_conditions(compose):
    services = compose["services"]
    assert set(services) == {*AIRFLOW, *SPARK, *DATABASES, "airflow-init"}
    for name in (*AIRFLOW, *SPARK, *DATABASES):
        assert services[name]["healthcheck"]["test"], name
    for name, service in services.items():
        for needed, how in service.get("depends_on", {}).items():
            expected = ("service_completed_successfully" if needed == "airflow-init"
                        else "service_healthy")
            assert how["condition"] == expected, (name, needed)
            if expected == "service_healthy":
                assert "healthcheck" in services[needed], needed
    for name in AIRFLOW:
        needs = services[name]["depends_on"]
        assert {"airflow-init", "airflow-db", "warehouse", "spark-master"} <= set(needs), name
    for name in ("spark-worker-1", "spark-worker-2"):
        assert "spark-master" in services[name]["depends_on"]
        assert "spark://spark-master:7077" in services[name]["command"]
    assert set(services["airflow-scheduler"]["depends_on"]) >= {"spark-worker-1",
                                                                 "spark-worker-2"}


def test_the_images_are_the_locked_versions(compose):
    spark = lock_version("pyspark")
    for name in SPARK:
        assert compose["services"][name]["image"] == f"apache/spark:{spark}", name
    dockerfile = (ROOT / "Dockerfile").read_text()
    airflow = lock_version("apache-airflow")
    assert re.search(rf"^FROM apache/airflow:{re.escape(airflow)}-python3\.11$", dockerfile,
                     re.M)
    assert "-c requirements/constraints.txt -e ." in dockerfile
    # `make install`'s last step: the full pyspark over the provider's pyspark-client.
    assert "--no-deps --force-reinstall -c requirements/constraints.txt pyspark" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".venv", "work", ".git"} <= set(ignored)


def test_airflow_reaches_the_spark_cluster_and_builds_on_the_postgres_warehouse(compose):
    services = compose["services"]
    for name in (*AIRFLOW, "airflow-init"):
        env = services[name]["environment"]
        conn = json.loads(env["AIRFLOW_CONN_SPARK_GROUPREBATE"])
        # As the Spark provider's operator builds its master URL from the connection.
        url = f"{conn['host']}:{conn['port']}" if conn.get("port") else conn["host"]
        assert (conn["conn_type"], url) == ("spark", "spark://spark-master:7077"), name
        assert env["GROUPREBATE_DBT_TARGET"] == "postgres"
        assert env["GROUPREBATE_PG_HOST"] == "warehouse"
        assert env["GROUPREBATE_PG_DB"] == services["warehouse"]["environment"]["POSTGRES_DB"]
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@airflow-db/airflow")
    assert conn["extra"]["spark.driver.host"] == "airflow-scheduler"
    assert services["airflow-scheduler"]["hostname"] == "airflow-scheduler"


def test_the_clusters_driver_and_executors_get_the_jvm_options_of_every_session(compose):
    """YAML cannot import spark_jobs.session.JVM_OPTIONS or DRIVER_SETTINGS: the compose
    file repeats their text."""
    from spark_jobs.session import DRIVER_SETTINGS, JVM_OPTIONS

    env = compose["services"]["airflow-scheduler"]["environment"]
    extra = json.loads(env["AIRFLOW_CONN_SPARK_GROUPREBATE"])["extra"]
    assert extra["spark.driver.extraJavaOptions"] == JVM_OPTIONS
    assert extra["spark.executor.extraJavaOptions"] == JVM_OPTIONS
    assert DRIVER_SETTINGS.items() <= extra.items()


def test_landing_lake_and_exports_are_shared_at_the_same_paths(compose):
    for name in (*AIRFLOW, *SPARK):
        mounts = dict(v.split(":")[:2] for v in compose["services"][name]["volumes"])
        for volume, path in SHARED.items():
            assert mounts.get(volume) == path, (name, volume)
    assert set(SHARED) <= set(compose["volumes"])


def test_secrets_are_variables_never_values_in_the_compose_file(secrets_set):
    raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    secret = re.compile(r"(PASSWORD|SECRET|FERNET_KEY|_SEED|PSEUDONYM_KEY)$")
    found = 0
    for name, service in raw["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if secret.search(key):
                found += 1
                assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", value), (name, key, value)
    assert found >= 8
    for name in AIRFLOW:
        assert "${AIRFLOW_DB_PASSWORD:?" in \
            raw["services"][name]["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    required = {m.group(1) for m in VARIABLE.finditer(
        (ROOT / "docker-compose.yml").read_text()) if m.group(2) == ":?"}
    empty = {name for name, value in env_example().items() if not value}
    assert required and required <= empty, "every required secret is listed, empty, in .env.example"
    with pytest.raises(ValueError, match="GROUPREBATE_DRAW_SEED"):
        interpolate(raw, {k: v for k, v in secrets_set.items()
                          if k != "GROUPREBATE_DRAW_SEED"})
