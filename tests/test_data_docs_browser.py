"""The gates' Data Docs open in a real browser (Debian's Chromium, headless) and list every
suite that ran, with its run."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from expectations.gate import QualityGateFailed, run_gate
from tests.test_expectations import DS, attribution_batches, landing_batches, membership, order

pytestmark = pytest.mark.e2e


def rendered(page) -> str:
    """The page's DOM after its scripts ran, as Chromium builds it."""
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is missing: `make test` installs it"
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
         "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_data_docs_list_every_suite_of_the_gates(spark, config, tmp_path):
    run_gate(tmp_path, "landing", DS, landing_batches(
        spark, config, [order("o1")], [membership("e1")], []))
    with pytest.raises(QualityGateFailed):
        run_gate(tmp_path, "attribution", DS, attribution_batches(
            spark, config, [("o1", "g1", "s1", "b", "b", 100, 100)], [("g1", "b", 100)],
            [("g1", 100, True, True, 4)]))
    index = rendered(tmp_path / "data-docs" / "index.html")
    for suite in ("landing", "attribution"):  # each suite's page, linked from the index
        assert f"expectations/{suite}.html" in index, suite
    assert f"{DS.isoformat()} landing" in index and f"{DS.isoformat()} attribution" in index
    # a passing suite's page, rendered from a success-only result, lists its expectations
    page, = (tmp_path / "data-docs" / "validations" / "landing").rglob("*.html")
    assert "orders__key_unique" in rendered(page) and "memberships__action" in rendered(page)
    assert "Failed" in index or "failed" in index
