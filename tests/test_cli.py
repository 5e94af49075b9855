"""The command line says what went wrong in one line and exits non-zero, never a traceback."""

from __future__ import annotations

import os

import pytest

from grouprebate.cli import main


def test_generate_then_validate_round_trip(tmp_path, capsys):
    out = tmp_path / "landing"
    assert main(["generate", "--out", str(out), "--groups", "30", "--seed", "5"]) == 0
    assert "total" in capsys.readouterr().out
    assert main(["validate", "--landing", str(out)]) == 0
    assert "OVER THRESHOLD" not in capsys.readouterr().out


def test_generate_refuses_to_overwrite_a_landing_zone(tmp_path, capsys):
    out = tmp_path / "landing"
    main(["generate", "--out", str(out), "--groups", "5", "--seed", "5"])
    capsys.readouterr()
    assert main(["generate", "--out", str(out), "--groups", "5", "--seed", "5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "already holds landing data" in err


def test_validate_fails_when_a_partition_is_over_the_threshold(tmp_path, capsys):
    folder = tmp_path / "landing" / "orders" / "ds=2018-11-05"
    folder.mkdir(parents=True)
    (folder / "a.jsonl").write_text("not json\n")
    assert main(["validate", "--landing", str(tmp_path / "landing")]) == 1
    captured = capsys.readouterr()
    assert "OVER THRESHOLD" in captured.out and "max_bad_row_rate" in captured.err


def test_missing_landing_and_bad_config_are_one_line_errors(tmp_path, capsys):
    assert main(["validate", "--landing", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.strip().endswith("landing zone directory not found")
    bad = tmp_path / "bad.yaml"
    bad.write_text("campaign_id: x\n")
    assert main(["validate", "--landing", str(tmp_path), "--config", str(bad)]) == 2
    assert "missing required key" in capsys.readouterr().err


SECRETS = ("GROUPREBATE_DRAW_SEED", "GROUPREBATE_PSEUDONYM_KEY")


def _without_secrets(monkeypatch):
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"AIRFLOW_VAR_{name}", raising=False)


def _fake_run(monkeypatch) -> dict:
    """Stands in for the run itself: records the secrets it would have read."""
    import grouprebate.local.run as run

    seen: dict = {}

    def run_campaign(*args, **kwargs):
        seen.update({name: os.environ.get(name) for name in SECRETS})
        return []

    monkeypatch.setattr(run, "run_campaign", run_campaign)
    monkeypatch.setattr(run, "summarize", lambda workdir, results: "summary")
    return seen


@pytest.mark.parametrize("missing", SECRETS)
def test_run_refuses_to_start_without_a_secret(tmp_path, capsys, monkeypatch, missing):
    _without_secrets(monkeypatch)
    for name in SECRETS:
        if name != missing:
            monkeypatch.setenv(name, "set")
    seen = _fake_run(monkeypatch)
    (tmp_path / "landing").mkdir()
    code = main(["run", "--landing", str(tmp_path / "landing"), "--workdir",
                 str(tmp_path / "work")])
    assert code == 2 and not seen
    assert f"{missing} is not set" in capsys.readouterr().err


def test_run_demo_uses_the_public_demo_secrets_and_says_so(tmp_path, capsys, monkeypatch):
    _without_secrets(monkeypatch)
    seen = _fake_run(monkeypatch)
    (tmp_path / "landing").mkdir()
    code = main(["run", "--demo", "--landing", str(tmp_path / "landing"), "--workdir",
                 str(tmp_path / "work")])
    assert code == 0
    assert seen == {"GROUPREBATE_DRAW_SEED": "demo-draw-seed",
                    "GROUPREBATE_PSEUDONYM_KEY": "demo-pseudonym-key"}
    assert "DEMO RUN" in capsys.readouterr().out
