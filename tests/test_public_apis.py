"""Our code uses the public APIs of its dependencies only: a private name of another
package (`_shared`, `_ENV`, a module global of its internals) breaks silently on an
upgrade. This reads every module of the project and names each private use."""

from __future__ import annotations

import ast

from grouprebate.paths import REPO_ROOT

OURS = {"grouprebate", "spark_jobs", "expectations", "tests", "benchmarks"}
FOLDERS = ("grouprebate", "spark_jobs", "expectations", "dags", "tests", "benchmarks")


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(source: str) -> list[str]:
    """Each import of a private module or name of another package, and each private
    attribute read on a name imported from one (`SomeClass._internal`)."""
    tree = ast.parse(source)
    found: list[str] = []
    foreign: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in OURS:
                    continue
                foreign.add((alias.asname or alias.name).split(".")[0])
                if any(_private(part) for part in alias.name.split(".")):
                    found.append(f"line {node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in OURS or node.module == "__future__":
                continue
            for alias in node.names:
                foreign.add(alias.asname or alias.name)
                if any(_private(part) for part in node.module.split(".")) or _private(
                        alias.name):
                    found.append(f"line {node.lineno}: from {node.module} import {alias.name}")
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and _private(node.attr)
                and isinstance(node.value, ast.Name) and node.value.id in foreign):
            found.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_no_module_uses_a_private_name_of_another_package():
    offenders = {
        str(path.relative_to(REPO_ROOT)): uses
        for folder in FOLDERS
        for path in sorted((REPO_ROOT / folder).rglob("*.py"))
        if (uses := private_uses(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


def test_the_check_finds_private_imports_and_attributes():
    source = (
        "from airflow.sdk._shared.listeners import hookimpl\n"
        "import dbt.adapters._internal as internal\n"
        "from pyspark import _secret\n"
        "from dbt.adapters.duckdb.connections import DuckDBConnectionManager\n"
        "env = DuckDBConnectionManager._ENV\n"
        "from grouprebate import _ours_to_use\n"
        "self_ok = object().__class__\n"
    )
    assert private_uses(source) == [
        "line 1: from airflow.sdk._shared.listeners import hookimpl",
        "line 2: import dbt.adapters._internal",
        "line 3: from pyspark import _secret",
        "line 5: DuckDBConnectionManager._ENV",
    ]
