"""The campaign log generator: reproducible, valid by the contract, within the bad-row
budget, realistic, and holding every edge case of docs/rules.md §3-§4 — each found in the data."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from expectations.landing import STATE_SOURCES
from grouprebate.contract import ID, INT, SOURCES, ds_deadline
from grouprebate.demo.generator import default_config, generate
from grouprebate.demo.landing_files import Calendar, LandingFiles
from tests.landing_helpers import (
    Campaign,
    Line,
    digests,
    landing_files,
    read_landing,
    read_text,
)

GROUPS, SEED = 200, 2018
CONFIG = default_config()
D = CONFIG.draw_open
W = CONFIG.claim_window
TZ = CONFIG.tz


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("landing") / "plain"
    return out, generate(out, GROUPS, SEED, workers=2)


@pytest.fixture(scope="module")
def lines(generated) -> dict[str, list[Line]]:
    return read_landing(generated[0], CONFIG)


@pytest.fixture(scope="module")
def camp(lines) -> Campaign:
    return Campaign(lines, CONFIG)


def local_date(t: dt.datetime) -> dt.date:
    return t.astimezone(TZ).date()


# --- reproducibility ---------------------------------------------------------------------


def test_same_seed_gives_identical_bytes_whatever_the_worker_count(generated, tmp_path):
    out, _ = generated
    again = tmp_path / "again"
    generate(again, GROUPS, SEED, workers=1)
    assert digests(again) == digests(out)


def test_gzip_output_is_reproducible_and_holds_the_same_lines(generated, tmp_path):
    out, _ = generated
    generate(tmp_path / "z1", GROUPS, SEED, gzip=True, workers=1)
    generate(tmp_path / "z2", GROUPS, SEED, gzip=True, workers=2)
    assert digests(tmp_path / "z1") == digests(tmp_path / "z2")
    zipped = landing_files(tmp_path / "z1")
    assert zipped and all(p.name.endswith(".jsonl.gz") for p in zipped)
    for path in zipped:
        plain = out / path.relative_to(tmp_path / "z1").with_suffix("")
        assert read_text(path) == plain.read_text(encoding="utf-8")


def test_different_seed_gives_different_bytes(generated, tmp_path):
    generate(tmp_path / "other", GROUPS, SEED + 1)
    ours, theirs = digests(generated[0]), digests(tmp_path / "other")
    same = [path for path, digest in theirs.items() if ours.get(path) == digest]
    assert len(same) < len(theirs) / 10


def test_bytes_do_not_depend_on_the_string_hash_seed(generated, tmp_path):
    script = ("import sys; from pathlib import Path; "
              "from grouprebate.demo.generator import generate; "
              f"generate(Path(sys.argv[1]), {GROUPS}, {SEED}, workers=1)")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "hashed")], env=env, check=True)
    assert digests(tmp_path / "hashed") == digests(generated[0])


def test_refuses_to_write_over_existing_landing_data(generated):
    with pytest.raises(FileExistsError, match="already holds landing data"):
        generate(generated[0], 1, SEED)


# --- layout, contract and the bad-row budget -----------------------------------------------


def test_layout_is_source_ds_part_files_inside_the_calendar(generated, lines):
    out, summary = generated
    pattern = re.compile(r"(\w+)/ds=(\d{4}-\d{2}-\d{2})/part-\d{5}\.jsonl")
    calendar = set(CONFIG.calendar())
    seen = set()
    for path in landing_files(out):
        match = pattern.fullmatch(str(path.relative_to(out)))
        assert match, path
        assert match[1] in SOURCES and dt.date.fromisoformat(match[2]) in calendar
        seen.add(match[1])
    assert seen == set(SOURCES)
    assert summary["rows"] == {name: len(ls) for name, ls in lines.items()}
    assert summary["total_rows"] == sum(len(ls) for ls in lines.values())


def test_rollover_starts_a_new_part_file_every_n_lines(tmp_path):
    files = LandingFiles(tmp_path, Calendar(CONFIG), gzip=False, rollover=3)
    files.write((0, 1, b"a\nb\n", 2, 0, 0))
    files.write((0, 1, b"c\nd\ne\nf\ng\n", 5, 0, 0))
    summary = files.close()
    folder = tmp_path / "users" / f"ds={CONFIG.calendar()[1]}"
    parts = [p.read_text() for p in sorted(folder.iterdir())]
    assert parts == ["a\nb\nc\n", "d\ne\nf\n", "g\n"]
    assert summary["rows"]["users"] == 7 and summary["files"] == 3


BAD_REASONS = re.compile(
    r"unparseable line: not a JSON object|missing field \w+|mistyped field \w+: .*"
    r"|invalid \w+: (must be >= \d+|not one of .*|timestamp without UTC offset)"
    r"|event from the future: .*"
)


def test_every_line_passes_the_contract_except_deliberately_bad_ones(lines, generated):
    bad = Counter()
    for source, ls in lines.items():
        for line in ls:
            if line.record is None:
                assert BAD_REASONS.fullmatch(line.reason), (line.reason, line.text)
                bad[source] += 1
            else:  # written exactly as json.dumps with a fixed key order would
                obj = json.loads(line.text)
                assert list(obj) == SOURCES[source].field_names
                assert json.dumps(obj, separators=(",", ":"), ensure_ascii=False) == line.text
    assert sum(bad.values()) > 0
    assert dict(bad) == {s: n for s, n in generated[1]["malformed"].items() if n}


def test_bad_rows_stay_within_the_budget_in_every_partition(lines, camp, generated):
    totals, bad = Counter(), Counter()
    for source, ls in lines.items():
        for line in ls:
            totals[(source, line.ds)] += 1
            bad[(source, line.ds)] += line.record is None
        for _, conflict in camp.dedup[source].conflicts:
            bad[(source, conflict.ds)] += 1
    for partition, n in totals.items():
        assert bad[partition] / n <= min(CONFIG.max_bad_row_rate, 0.005), partition
        if n < 200:
            assert bad[partition] == 0, partition
    per_source = Counter()
    for (source, _), n in bad.items():
        per_source[source] += n
    assert {s: n for s, n in per_source.items() if n} == {
        s: n for s, n in generated[1]["bad_lines"].items() if n}


def _malformed_kind(line: Line) -> str:
    source = SOURCES[line.source]
    if line.reason.startswith("unparseable"):
        return "json array" if line.text.startswith("[") else "not json"
    obj = json.loads(line.text)
    if line.reason.startswith("mistyped"):
        name = line.reason.split()[2].rstrip(":")
        kind = source.field(name).kind
        return "id as number" if kind == ID else "amount as string" if kind == INT else "?"
    if "not one of" in line.reason:
        return f"unknown enum {obj.get('gender', obj.get('action'))}"
    if "must be >=" in line.reason:
        return "zero or negative"
    return {"missing": "missing field", "invalid": "no offset",
            "event": "future"}[line.reason.split()[0]]


def test_malformed_lines_come_in_every_kind(lines):
    kinds = {_malformed_kind(line) for ls in lines.values() for line in ls if line.reason}
    assert kinds >= {"not json", "json array", "missing field", "amount as string",
                     "id as number", "zero or negative", "unknown enum X", "unknown enum kick",
                     "no offset", "future"}


def test_exact_duplicates_arrive_in_the_same_and_in_later_partitions(camp):
    pairs = [p for d in camp.dedup.values() for p in d.duplicates]
    assert all(first.text == dup.text for first, dup in pairs)
    assert any(first.ds == dup.ds for first, dup in pairs)
    assert any(first.ds < dup.ds for first, dup in pairs)


def test_id_conflicts_arrive_after_the_first_delivery(camp):
    conflicts = [(s, p) for s, d in camp.dedup.items() for p in d.conflicts]
    assert len({s for s, _ in conflicts}) >= 2
    for _, (first, later) in conflicts:
        assert (first.ds, first.file, first.lineno) < (later.ds, later.file, later.lineno)
        assert first.record != later.record


# --- timestamps and arrival ----------------------------------------------------------------


def test_timestamps_use_several_offsets_and_fractional_seconds(lines):
    texts = [line.text for ls in lines.values() for line in ls if line.record]
    stamps = [m for t in texts for m in re.findall(r'"(\d{4}-[^"]*T[^"]*)"', t)]
    for pattern in (r"Z$", r"\+08:00$", r"\+00:00$", r"-05:00$", r":\d\d\.\d{3}\D",
                    r":\d\d\.\d{6}\D"):
        assert any(re.search(pattern, s) for s in stamps), pattern


def test_events_arrive_late_or_within_the_clock_skew_but_never_early(lines):
    late = early = 0
    for ls in lines.values():
        for line in ls:
            if line.record is None:
                continue
            assert line.event_time <= ds_deadline(line.ds, TZ)
            date = local_date(line.event_time)
            late += line.ds > date and date >= CONFIG.calendar_start
            early += line.ds < date
    assert late > 100 and early > 0


def test_all_arrivals_fall_inside_the_calendar(lines):
    days = [line.ds for ls in lines.values() for line in ls]
    assert min(days) == CONFIG.calendar_start and max(days) <= CONFIG.calendar_end


def test_only_profiles_predate_the_calendar(tmp_path):
    """Orders are created minutes before their first payment; with an accumulation window
    that opens half an hour after the calendar, many payments come minutes after it opens,
    and still no order may be created before it: the landing gate holds every event but a
    profile's valid_from inside the calendar (expectations/landing.py)."""
    opens = dt.datetime.combine(CONFIG.calendar_start, dt.time(), tzinfo=TZ)
    early = CONFIG.__class__(**{**CONFIG.__dict__,
                                "accumulation_start": opens + dt.timedelta(minutes=30)})
    generate(tmp_path, 60, SEED, config=early)
    found = read_landing(tmp_path, early)
    assert any(line.event_time < opens + dt.timedelta(minutes=30)
               for line in found["payments"] if line.record is not None)
    assert not [(name, line.event_time) for name, ls in found.items()
                if name not in STATE_SOURCES
                for line in ls if line.record is not None and line.event_time < opens]


def test_pre_draw_payments_and_membership_changes_land_after_the_freeze(camp):
    for source in ("payments", "memberships"):
        assert any(line.event_time < D and line.ds > CONFIG.freeze_ds
                   for line in camp.arrivals(source)), source


def test_orphan_payments_arrive_before_their_order(camp):
    order_ds = {line.record["order_id"]: line.ds for line in camp.arrivals("orders")}
    assert any(line.ds < order_ds.get(line.record["order_id"], line.ds)
               for line in camp.arrivals("payments"))


# --- a realistic campaign ------------------------------------------------------------------


def test_groups_are_created_from_calendar_start_until_accumulation_end(camp):
    created = [g["created_at"] for g in camp.groups.values()]
    assert min(local_date(t) for t in created) == CONFIG.calendar_start
    assert max(created) < CONFIG.accumulation_end
    assert len(camp.groups) == GROUPS


def test_group_sizes_and_orders_per_group_look_real(camp):
    sizes = [camp.peak_members(g, D) for g in camp.groups]
    typical = sum(CONFIG.group_min_members <= n <= CONFIG.group_max_members for n in sizes)
    assert typical / len(sizes) >= 0.75
    assert 60 <= len(camp.orders) / GROUPS <= 150


def test_creators_are_mostly_eligible(camp):
    eligible = [camp.eligible(camp.profile_at(g["creator_user_id"], g["created_at"]))
                for g in camp.groups.values()]
    assert 0.8 <= sum(eligible) / len(eligible) < 1


def test_item_popularity_is_skewed(camp):
    groups_per_item = defaultdict(set)
    for share in camp.records("shares"):
        groups_per_item[share["item_id"]].add(share["group_id"])
    counts = sorted((len(g) for g in groups_per_item.values()), reverse=True)
    assert counts[0] >= 0.2 * GROUPS
    assert counts[len(counts) // 2] <= 2


def test_purchases_peak_on_the_last_accumulation_day(camp):
    days = Counter(local_date(p[0]["paid_at"]) for p in camp.payments_by_order.values())
    peak = CONFIG.business_date(CONFIG.accumulation_end) - dt.timedelta(days=1)
    assert days.most_common(1)[0][0] == peak
    others = sorted(n for day, n in days.items() if day != peak)
    assert days[peak] >= 5 * others[len(others) // 2]


def test_users_belong_to_several_groups(camp):
    assert max(len(g) for g in camp.groups_of_user.values()) >= 3


def test_whichever_groups_win_they_have_draws_and_claims(camp):
    populated = [g for g in camp.groups if camp.members_at(g, D)]
    assert all(g in camp.draws_by_group for g in populated)
    assert sum(g in camp.claims_by_group for g in populated) >= 0.95 * len(populated)


# --- payments and refunds ------------------------------------------------------------------


def test_presale_pays_a_deposit_then_a_balance(camp):
    deposits = []
    for payments in camp.payments_by_order.values():
        stages = {p["stage"]: p["paid_at"] for p in payments}
        if 1 in stages and 2 in stages and stages[1] < stages[2]:
            deposits.append(stages[1])
    start, end = CONFIG.accumulation_start, CONFIG.accumulation_end
    assert any(t < start for t in deposits)
    assert any(start <= t < end for t in deposits)


def test_one_stage_is_paid_in_several_parts(camp):
    assert any(len({p["paid_at"] for p in ps if p["stage"] == 1}) >= 3
               for ps in camp.payments_by_order.values())


def test_two_payments_tie_on_the_first_paid_at(camp):
    assert any(len(ps) >= 2 and ps[0]["paid_at"] == ps[1]["paid_at"]
               for ps in camp.payments_by_order.values())


def test_refunds_are_partial_and_full_before_and_after_draw_open(camp):
    kinds = set()
    for oid, refunds in camp.refunds_by_order.items():
        paid = sum(p["amount_fen"] for p in camp.payments_by_order.get(oid, []))
        refunded = sum(r["amount_fen"] for r in refunds)
        amount = "full" if refunded == paid else "partial" if refunded < paid else "over"
        kinds |= {(amount, r["refunded_at"] <= D) for r in refunds}
    assert {("full", True), ("full", False), ("partial", True), ("partial", False)} <= kinds


def test_refunds_can_exceed_what_was_paid_by_draw_open(camp):
    """Contribution = max(0, paid - refunded) matters only when refunds win."""
    assert any(
        sum(r["amount_fen"] for r in refunds if r["refunded_at"] <= D)
        > sum(p["amount_fen"] for p in camp.payments_by_order.get(oid, []) if p["paid_at"] <= D)
        for oid, refunds in camp.refunds_by_order.items())


def test_first_payments_on_and_around_the_window_edges(camp):
    start, end = CONFIG.accumulation_start, CONFIG.accumulation_end
    edge = defaultdict(list)
    for oid, order in camp.orders.items():
        first = camp.first_payment(oid)
        if first is None:
            continue
        p = first["paid_at"]
        label = ("start" if p == start else "end" if p == end else "before" if p < start
                 else "after" if p > end else "inside")
        edge[label].append((order, p))
    assert len(edge["before"]) > 10 and len(edge["after"]) > 10
    for label in ("start", "end"):  # pinned orders that meet every other clause
        assert any(camp.qualifying_shares(o, p, skip=frozenset({1})) for o, p in edge[label])


# --- attribution clauses -------------------------------------------------------------------


def test_each_attribution_clause_alone_rejects_some_order(camp):
    rejected_by = set()
    for oid, order in camp.orders.items():
        first = camp.first_payment(oid)
        if first is None or oid in camp.attributed:
            continue
        for clause in (1, 2, 3, 4):
            if camp.qualifying_shares(order, first["paid_at"], skip=frozenset({clause})):
                rejected_by.add(clause)
    assert rejected_by == {1, 2, 3, 4}


def _share_faults(camp: Campaign, order: dict, p: dt.datetime, share: dict) -> set[str]:
    faults = set()
    if share["shared_at"] > p:
        faults.add("shared after payment")
    if share["sharer_user_id"] == order["buyer_user_id"]:
        faults.add("self-share")
    if not camp.is_member(share["group_id"], share["sharer_user_id"], share["shared_at"]):
        faults.add("sharer not a member")
    if not camp.new_enough(share["client_version"]):
        faults.add("old app on share")
    return faults


def test_each_share_condition_alone_rejects_some_order(camp):
    """Clause 4 piece by piece: self-shares, sharers who were not members, old apps,
    shares after the payment — each the only reason some order is not attributed."""
    sole = set()
    for oid, order in camp.orders.items():
        first = camp.first_payment(oid)
        if first is None or oid in camp.attributed:
            continue
        p, buyer = first["paid_at"], order["buyer_user_id"]
        if not (CONFIG.accumulation_start <= p < CONFIG.accumulation_end
                and camp.new_enough(order["client_version"])):
            continue
        for group in camp.groups_of_user.get(buyer, ()):
            if camp.is_member(group, buyer, p):
                for share in camp.shares_by_group_item.get((group, order["item_id"]), []):
                    faults = _share_faults(camp, order, p, share)
                    if len(faults) == 1:
                        sole |= faults
    assert sole == {"shared after payment", "self-share", "sharer not a member",
                    "old app on share"}


def test_buyer_was_a_member_but_not_at_payment_time(camp):
    assert any(
        not camp.qualifying_shares(o, camp.first_payment(oid)["paid_at"])
        and any(s["group_id"] in camp.groups_of_user.get(o["buyer_user_id"], ())
                for s in camp.qualifying_shares(o, camp.first_payment(oid)["paid_at"],
                                                skip=frozenset({3})))
        for oid, o in camp.orders.items() if camp.first_payment(oid))


def test_several_shares_qualify_for_one_order_and_the_last_touch_wins(camp):
    several = tied = 0
    for oid, (order, winner) in camp.attributed.items():
        shares = camp.qualifying_shares(order, camp.first_payment(oid)["paid_at"])
        times = sorted(s["shared_at"] for s in shares)
        several += len(times) >= 2 and times[0] < times[-1]
        tied += times.count(winner["shared_at"]) >= 2
    assert several > 10 and tied > 0


def test_client_versions_old_and_new_on_orders_and_shares(camp):
    orders = {o["client_version"] for o in camp.orders.values()}
    shares = {s["client_version"] for s in camp.records("shares")}
    assert {"8.10.0", "8.9.0", "8.0.9", "7.9.9", "8.1"} <= orders
    assert any(camp.new_enough(v) for v in shares) and any(not camp.new_enough(v) for v in shares)


# --- groups, creators and members ----------------------------------------------------------


def test_creator_join_is_an_explicit_event_at_created_at(camp):
    for gid, group in camp.groups.items():
        assert any(e["user_id"] == group["creator_user_id"] and e["action"] == "join"
                   and e["event_time"] == group["created_at"]
                   for e in camp.membership_events[gid]), gid


def test_ineligible_creators_by_gender_and_by_naughty_value(camp):
    reasons = set()
    for group in camp.groups.values():
        profile = camp.profile_at(group["creator_user_id"], group["created_at"])
        if profile["gender"] != CONFIG.creator_gender:
            reasons.add(profile["gender"])
        elif profile["naughty_value"] < CONFIG.creator_min_naughty_value:
            reasons.add("low naughty value")
    assert reasons == {"M", "U", "low naughty value"}


def test_creator_profile_changes_after_creation_in_both_directions(camp):
    flips = set()
    for group in camp.groups.values():
        at_creation = camp.eligible(camp.profile_at(group["creator_user_id"],
                                                    group["created_at"]))
        for version in camp.profiles[group["creator_user_id"]]:
            if version["valid_from"] > group["created_at"]:
                if camp.eligible(version) != at_creation:
                    flips.add(at_creation)
    assert flips == {True, False}


def test_users_have_several_profile_versions(camp):
    counts = Counter(len(v) for v in camp.profiles.values())
    assert counts[2] > 0 and counts[3] > 0


def test_group_sizes_hit_the_edges(camp):
    peaks = [camp.peak_members(g, D) for g in camp.groups]
    at_draw = [len(camp.members_at(g, D)) for g in camp.groups]
    assert CONFIG.group_max_members in peaks
    assert any(n > CONFIG.group_max_members for n in peaks)
    assert any(0 < n < CONFIG.group_min_members for n in at_draw)


def test_members_leave_and_rejoin_and_join_after_the_draw(camp):
    rejoined = joined_late = False
    for events in camp.membership_events.values():
        per_user = defaultdict(list)
        for e in events:
            per_user[e["user_id"]].append(e["action"])
            joined_late |= e["action"] == "join" and e["event_time"] > D
        rejoined |= any(a[:3] == ["join", "leave", "join"] for a in per_user.values())
    assert rejoined and joined_late


def test_members_leave_between_draw_open_and_the_trigger(camp):
    assert any(e["action"] == "leave" and D <= e["event_time"] < trigger
               for g, trigger in camp.triggers.items() for e in camp.membership_events[g])


# --- draws, triggers, claims ---------------------------------------------------------------


def test_draw_page_opened_before_at_and_after_draw_open_by_members_and_others(camp):
    seen = set()
    for gid, draws in camp.draws_by_group.items():
        for d in draws:
            member = camp.is_member(gid, d["user_id"], d["drawn_at"])
            when = "before" if d["drawn_at"] < D else "at" if d["drawn_at"] == D else "after"
            seen.add((when, member))
        after = [d for d in draws if d["drawn_at"] >= D]
        if after and not camp.is_member(gid, after[0]["user_id"], after[0]["drawn_at"]):
            seen.add("non-member first")
    assert {("before", True), ("at", True), ("after", True), ("after", False),
            "non-member first"} <= seen


def test_some_groups_trigger_late_and_some_never(camp):
    populated = [g for g in camp.groups if len(camp.members_at(g, D)) >= 4]
    late = [g for g in populated if g in camp.triggers and camp.triggers[g] > D + W]
    never = [g for g in populated if g not in camp.triggers]
    assert late and never


def _claim_kinds(camp: Campaign) -> set[str]:
    kinds = set()
    for gid, trigger in camp.triggers.items():
        if trigger > D + W:
            continue
        splitters = camp.members_at(gid, trigger)
        per_user = Counter()
        for c in camp.claims_by_group.get(gid, []):
            user, t = c["user_id"], c["claimed_at"]
            per_user[user] += 1
            if user not in splitters:
                own = [e for e in camp.membership_events[gid] if e["user_id"] == user]
                if any(e["action"] == "join" and e["event_time"] > trigger for e in own):
                    kinds.add("joined after trigger")
                elif any(e["action"] == "leave" and e["event_time"] <= trigger for e in own):
                    kinds.add("left before trigger")
                elif not own:
                    kinds.add("never a member")
            elif t == trigger or t == trigger + W:
                kinds.add("on the window edge")
            elif trigger < t < trigger + W:
                kinds.add("inside")
            else:
                kinds.add("too late" if t > trigger else "before trigger")
        if per_user and max(per_user.values()) >= 2:
            kinds.add("duplicate")
    return kinds


def test_claims_inside_and_outside_the_window(camp):
    assert {"inside", "on the window edge", "too late", "before trigger",
            "duplicate"} <= _claim_kinds(camp)


def test_claims_by_non_splitters(camp):
    assert {"joined after trigger", "left before trigger", "never a member"} <= _claim_kinds(camp)


# --- pools, split corner cases -------------------------------------------------------------


def test_some_pools_exceed_the_red_packet_cap(camp):
    assert max(camp.pools.values()) > CONFIG.red_packet_cap_fen


def test_some_groups_have_a_pool_but_splitters_without_contributions(camp):
    def zero_split(gid: str) -> bool:
        splitters = camp.members_at(gid, camp.triggers[gid])
        bought = {o["buyer_user_id"] for oid, (o, s) in camp.attributed.items()
                  if s["group_id"] == gid and camp.contribution(oid) > 0}
        return bool(splitters) and not bought & splitters

    assert any(zero_split(g) for g in camp.triggers if camp.pools.get(g, 0) > 0)


def test_some_valid_groups_with_enough_members_have_no_pool(camp):
    assert any(
        camp.eligible(camp.profile_at(g["creator_user_id"], g["created_at"]))
        and len(camp.members_at(gid, D)) >= CONFIG.group_min_members
        and camp.pools.get(gid, 0) == 0
        for gid, g in camp.groups.items())


# --- another campaign, and scale ---------------------------------------------------------


def test_another_years_config_with_daylight_saving_time_works(tmp_path, another_config):
    """Every rule instant comes from the config; this calendar crosses the end of DST."""
    config = another_config
    generate(tmp_path / "next", 80, SEED, config=config, workers=1)
    lines = read_landing(tmp_path / "next", config)
    everything = [line for ls in lines.values() for line in ls]
    assert all(line.record or BAD_REASONS.fullmatch(line.reason) for line in everything)
    days = {line.ds for line in everything}
    assert days <= set(config.calendar()) and max(days) == config.calendar_end
    camp = Campaign(lines, config)
    assert {"9.2.0", "8.9.9", "9.2.1", "9.10.0"} <= {o["client_version"]
                                                   for o in camp.orders.values()}
    assert any(camp.peak_members(g, config.draw_open) > 10 for g in camp.groups)
    first_paid = Counter(config.business_date(ps[0]["paid_at"])
                         for ps in camp.payments_by_order.values())
    assert first_paid.most_common(1)[0][0] == dt.date(2019, 11, 11)


@pytest.mark.bench
def test_ten_thousand_groups_stream_at_speed(tmp_path):
    """Rows per CPU second of one process, so a busy machine does not fail it; the
    workers multiply it by the cores."""
    wall, cpu = time.perf_counter(), time.process_time()
    summary = generate(tmp_path / "bench", 10_000, SEED, workers=1)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rows = summary["total_rows"]
    print(f"\n{rows:,} rows: {rows / wall:,.0f} rows/s, {rows / cpu:,.0f} rows per CPU second")
    assert rows / cpu >= 150_000
