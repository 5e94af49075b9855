"""The campaign config fails early with one clear line per kind of mistake."""

import copy
import datetime as dt
from pathlib import Path

import pytest
import yaml

from grouprebate.config import ConfigError, load_config, parse_config

CONFIG = Path(__file__).resolve().parents[1] / "config" / "xhq-2018.yaml"
ENV = {"GROUPREBATE_DRAW_SEED": "s3cret"}


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load(CONFIG.read_text())


def test_shipped_2018_config_loads_with_the_spec_values():
    config = load_config(CONFIG, env=ENV)
    assert config.campaign_id == "xhq-2018"
    assert config.red_packet_cap_fen == 5_000_000
    assert config.draw_open == dt.datetime(2018, 11, 12, 8, tzinfo=dt.UTC)
    assert config.claim_window_hours == 120
    assert config.draw_seed == "s3cret"
    assert config.max_bad_row_rate == 0.01


def test_calendar_runs_until_the_last_claim_window_closes_plus_one_day():
    config = load_config(CONFIG, env=ENV)
    assert config.calendar()[0] == dt.date(2018, 10, 20)
    # draw_open 11-12 16:00 + 240 h = 11-22 16:00; plus one day for late arrivals.
    assert config.calendar()[-1] == dt.date(2018, 11, 23)
    assert config.freeze_ds == dt.date(2018, 11, 12)


def _delete(path: str):
    def mutate(raw: dict) -> None:
        *parents, key = path.split(".")
        for parent in parents:
            raw = raw[parent]
        del raw[key]
    return mutate


def _set(key: str, value):
    def mutate(raw: dict) -> None:
        target = raw if "." not in key else raw[key.split(".")[0]]
        target[key.split(".")[-1]] = value
    return mutate


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_delete("red_packet_cap_fen"), r"^red_packet_cap_fen: missing required key$"),
        (_delete("draw.winner_count"), r"^draw\.winner_count: missing required key$"),
        (_set("red_packet_cap", 1), r"^red_packet_cap: unknown key"),
        (_set("quality.max_bad_rows", 3), r"^quality\.max_bad_rows: unknown key"),
        (_set("draw", 100), r"^draw: expected a mapping"),
    ],
    ids=["missing key", "missing nested key", "unknown key", "unknown nested key",
         "not a mapping"],
)
def test_a_key_missing_unknown_or_not_a_mapping_is_named_with_its_dots(raw, mutate, message):
    mutate(raw)
    with pytest.raises(ConfigError, match=message):
        parse_config(raw, ENV)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("claim_window_hours", "120", "expected an integer"),
        ("red_packet_cap_fen", 50000.0, "expected an integer"),
        ("group_min_members", True, "expected an integer"),
        ("campaign_id", 2018, "expected a string"),
        ("calendar_start", "20th of October", "expected a date"),
        ("draw_open", "2018-11-12T16:00:00", "expected an ISO-8601 timestamp with an offset"),
    ],
)
def test_wrong_type_names_key_and_expectation(raw, key, value, expected):
    raw[key] = value
    with pytest.raises(ConfigError, match=rf"^{key}: {expected}"):
        parse_config(raw, ENV)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"draw_open": "2018-11-11T16:00:00+08:00"},
         "draw_open must not be before accumulation_end"),
        ({"accumulation_end": "2018-10-31T00:00:00+08:00"},
         "accumulation_end must be after accumulation_start"),
        ({"calendar_start": "2018-11-02"}, "calendar_start must be on or before"),
        ({"publish_date": "2018-11-11"}, "publish_date must not be before the date of draw_open"),
        ({"publish_date": "2019-01-01"}, "publish_date must fall inside the run calendar"),
        ({"group_min_members": 16}, "group_min_members must be between"),
        ({"min_client_version": "v8"}, "min_client_version must be dotted"),
        ({"timezone": "Mars/Olympus"}, "timezone: unknown IANA zone"),
    ],
)
def test_impossible_calendar_or_rule_is_refused(raw, changes, message):
    raw.update(changes)
    with pytest.raises(ConfigError, match=message):
        parse_config(raw, ENV)


def test_seed_missing_from_its_environment_variable(raw):
    with pytest.raises(ConfigError, match="GROUPREBATE_DRAW_SEED is not set"):
        parse_config(raw, env={})


def test_seed_not_named(raw):
    del raw["draw"]["seed_env"]
    with pytest.raises(ConfigError, match="draw.seed_env: missing required key"):
        parse_config(raw, env={})


def test_a_seed_written_in_the_file_is_refused(raw):
    raw["draw"]["seed"] = "inline"
    with pytest.raises(ConfigError, match="draw.seed: the draw seed is a secret"):
        parse_config(raw, env=ENV)


def test_the_seed_never_appears_in_the_configs_repr(raw):
    config = parse_config(raw, ENV)
    assert config.draw_seed == "s3cret"
    assert "s3cret" not in repr(config) and "s3cret" not in str(config)


@pytest.mark.parametrize("campaign_id", ["../../etc", "a/b", ".hidden", "", "x y"])
def test_a_campaign_id_that_would_leave_its_folder_in_a_file_name_is_refused(raw, campaign_id):
    raw["campaign_id"] = campaign_id
    with pytest.raises(ConfigError, match="campaign_id must be letters, digits"):
        parse_config(raw, ENV)


def test_tools_that_never_draw_may_load_without_the_seed(raw):
    assert parse_config(raw, env={}, need_seed=False).draw_seed is None


def test_quality_tolerances_have_defaults_and_are_read_from_the_config(raw):
    del raw["quality"]
    config = parse_config(raw, ENV)
    assert (config.max_bad_row_rate, config.min_eligible_share, config.max_eligible_share,
            config.max_capped_red_packet_share) == (0.01, 0.01, 0.9, 0.5)
    raw["quality"] = {"min_eligible_share": 0.2, "max_eligible_share": 0.3,
                      "max_capped_red_packet_share": 0.05}
    config = parse_config(raw, ENV)
    assert (config.min_eligible_share, config.max_eligible_share,
            config.max_capped_red_packet_share) == (0.2, 0.3, 0.05)


@pytest.mark.parametrize(
    ("quality", "message"),
    [
        ({"min_eligible_share": 0.5, "max_eligible_share": 0.4}, "min <= max"),
        ({"max_eligible_share": 1.5}, "min <= max"),
        ({"max_capped_red_packet_share": -0.1}, "max_capped_red_packet_share must be in"),
    ],
)
def test_impossible_quality_tolerances_are_refused(raw, quality, message):
    raw["quality"] = quality
    with pytest.raises(ConfigError, match=message):
        parse_config(raw, ENV)


def test_file_errors_name_the_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="nope.yaml: campaign config file not found"):
        load_config(missing, env=ENV)
    broken = tmp_path / "broken.yaml"
    broken.write_text("campaign_id: [unclosed")
    with pytest.raises(ConfigError, match="broken.yaml: not valid YAML"):
        load_config(broken, env=ENV)


def test_pseudonym_key_is_read_from_its_environment_variable(raw):
    config = parse_config(copy.deepcopy(raw), ENV)
    assert config.pseudonym_key({"GROUPREBATE_PSEUDONYM_KEY": "k"}) == "k"
    with pytest.raises(ConfigError, match="GROUPREBATE_PSEUDONYM_KEY is not set"):
        config.pseudonym_key({})


def test_landing_limits_have_defaults_and_are_read_from_the_config(raw):
    config = parse_config(raw, ENV)
    assert (config.max_line_bytes, config.max_file_bytes) == (16 * 2**20, 4 * 2**30)
    raw["landing"] = {"max_line_bytes": 1000, "max_file_bytes": 10**12}
    config = parse_config(raw, ENV)
    assert (config.max_line_bytes, config.max_file_bytes) == (1000, 10**12)


@pytest.mark.parametrize(
    ("landing", "message"),
    [
        ({"max_line_bytes": 0}, r"^landing\.max_line_bytes must be between 1 and 16777216"),
        ({"max_line_bytes": 16 * 2**20 + 1}, r"^landing\.max_line_bytes must be between"),
        ({"max_line_bytes": 100, "max_file_bytes": 99},
         r"^landing\.max_file_bytes must be at least landing\.max_line_bytes"),
        ({"max_file_bytes": "4G"}, r"^landing\.max_file_bytes: expected an integer"),
        ({"max_lines": 3}, r"^landing\.max_lines: unknown key"),
    ],
)
def test_impossible_landing_limits_are_refused(raw, landing, message):
    raw["landing"] = landing
    with pytest.raises(ConfigError, match=message):
        parse_config(raw, ENV)


def test_payout_batch_size_has_a_default_in_the_rails_range_and_is_read(raw):
    assert parse_config(copy.deepcopy(raw), ENV).payout_max_rows_per_file == 2000
    raw["payout"] = {"max_rows_per_file": 7}
    assert parse_config(raw, ENV).payout_max_rows_per_file == 7


@pytest.mark.parametrize(
    ("payout", "message"),
    [
        ({"max_rows_per_file": 0}, r"^payout\.max_rows_per_file must be between 1 and 3000"),
        ({"max_rows_per_file": 3001}, r"^payout\.max_rows_per_file must be between 1 and 3000"),
        ({"max_rows_per_file": "2000"}, r"^payout\.max_rows_per_file: expected an integer"),
        ({"rows": 3}, r"^payout\.rows: unknown key"),
    ],
)
def test_impossible_payout_batch_sizes_are_refused(raw, payout, message):
    raw["payout"] = payout
    with pytest.raises(ConfigError, match=message):
        parse_config(raw, ENV)
