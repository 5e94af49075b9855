"""A run's paths are resolved and checked before anything is read or written."""

from __future__ import annotations

import pytest

from grouprebate.paths import PathError, RunPaths


@pytest.fixture
def landing(tmp_path):
    (tmp_path / "landing").mkdir()
    return tmp_path / "landing"


def test_paths_are_resolved_through_dot_dot_and_symlinks(tmp_path, landing):
    (tmp_path / "link").symlink_to(landing)
    paths = RunPaths.checked(tmp_path / "x" / ".." / "link", tmp_path / "work" / ".." / "work")
    assert paths == RunPaths(landing, tmp_path / "work")


def test_a_missing_landing_zone_is_refused(tmp_path):
    with pytest.raises(PathError, match="landing zone not found"):
        RunPaths.checked(tmp_path / "nowhere", tmp_path / "work")


@pytest.mark.parametrize("workdir", ["landing", "landing/orders/run"])
def test_a_work_directory_inside_the_landing_zone_is_refused(tmp_path, landing, workdir):
    with pytest.raises(PathError, match="must not be inside the landing zone"):
        RunPaths.checked(landing, tmp_path / workdir)


def test_a_landing_zone_inside_the_work_directory_is_refused(tmp_path):
    (tmp_path / "work" / "lake").mkdir(parents=True)
    with pytest.raises(PathError, match="must not be inside the work directory"):
        RunPaths.checked(tmp_path / "work" / "lake", tmp_path / "work")


def test_a_work_directory_that_is_a_file_is_refused(tmp_path, landing):
    (tmp_path / "work").write_text("")
    with pytest.raises(PathError, match="is a file"):
        RunPaths.checked(landing, tmp_path / "work")


def test_tasks_read_checked_paths_from_the_environment(tmp_path, landing, monkeypatch):
    monkeypatch.setenv("GROUPREBATE_LANDING", str(landing))
    monkeypatch.setenv("GROUPREBATE_WORKDIR", str(landing / "run"))
    with pytest.raises(PathError):
        RunPaths.from_env()


def test_symbolic_links_in_the_landing_zone_are_named_and_never_read(tmp_path):
    """A link could lead anywhere on the machine: it is a stray, not data."""
    import datetime as dt

    from grouprebate.landing import LINK, files_of_day, landing_files, stray_files

    day = dt.date(2018, 11, 1)
    outside = tmp_path / "outside"
    (outside / "ds=2018-11-02").mkdir(parents=True)
    (outside / "secret.jsonl").write_text('{"order_id": "x"}\n')
    landing = tmp_path / "landing"
    orders = landing / "orders" / f"ds={day}"
    orders.mkdir(parents=True)
    (orders / "real.jsonl").write_text("")
    (orders / "link.jsonl").symlink_to(outside / "secret.jsonl")
    (landing / "orders" / "ds=2018-11-02").symlink_to(outside / "ds=2018-11-02")
    (landing / "payments").symlink_to(outside)
    assert files_of_day(landing, day) == {"orders": [orders / "real.jsonl"]}
    assert [path.name for _, path in landing_files(landing, "orders")] == ["real.jsonl"]
    assert files_of_day(landing, dt.date(2018, 11, 2)) == {}
    assert {path.name: why for path, why in stray_files(landing)} == {
        "link.jsonl": LINK, "ds=2018-11-02": LINK, "payments": LINK}
