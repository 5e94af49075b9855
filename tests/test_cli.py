"""The command line says what went wrong in one line and exits non-zero, never a traceback."""

from __future__ import annotations

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
