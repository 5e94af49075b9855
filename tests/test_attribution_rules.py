"""One test per clause of docs/rules.md §4 attribution, on tiny hand-built campaigns.

Base story: creator c (F, 700) opens g1 on 10-25 with a, b, d; a shares item i1
on 11-02; b buys it, first paying 1,000 fen on 11-05. Each test bends one fact.

Each campaign is registered at import, next to the test that reads it, and one Spark
run computes them all (ids prefixed per campaign, tests.lake_builders.batched): Spark's
fixed cost per run, not the campaigns, is most of the time.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from spark_jobs.attribute_orders import standings
from spark_jobs.transforms.membership import membership_intervals
from spark_jobs.transforms.params import RuleParams
from tests.lake_builders import (
    batched,
    group,
    join,
    lake_tables,
    leave,
    order,
    payment,
    refund,
    share,
    ts,
    unbatched,
    user,
)


def base() -> dict[str, list[dict]]:
    return {
        "users": [user("c"), user("a"), user("b"), user("d")],
        "groups": [group("g1", "c")],
        "memberships": [join("m0", "g1", "c", "10-25 10:00"), join("m1", "g1", "a", "10-26 10:00"),
                        join("m2", "g1", "b", "10-26 11:00"), join("m3", "g1", "d", "10-26 12:00")],
        "shares": [share("s1", "g1", "a", "i1", "11-02 10:00")],
        "orders": [order("o1", "b", "i1")],
        "payments": [payment("p1", "o1", 1000, "11-05 10:00")],
    }


CAMPAIGNS: dict[str, dict[str, list[dict]]] = {}


def register(name: str, rows: dict[str, list[dict]]) -> str:
    """Add a campaign to the module's one Spark run; its name is its key in `results`."""
    assert name not in CAMPAIGNS, name
    CAMPAIGNS[name] = rows
    return name


def story(edit: Callable[[dict[str, list[dict]]], None]) -> str:
    """Register the base story as bent by `edit`, under the edit's name (returned)."""
    rows = base()
    edit(rows)
    return register(edit.__name__, rows)


@pytest.fixture(scope="module")
def results(spark, config) -> dict[str, dict[str, list[dict]]]:
    """Each registered campaign's attribution tables, from one standings() run over all."""
    names = list(CAMPAIGNS)
    tables = lake_tables(spark, **batched([CAMPAIGNS[name] for name in names]))
    intervals = membership_intervals(tables["memberships"]).cache()
    # Cached as built, so each table reads the one before instead of recomputing it.
    outputs = standings(tables, intervals, RuleParams.from_config(config), lambda df: df.cache())
    split = {name: {table: [] for table in outputs} for name in names}
    for table, df in outputs.items():
        for row in df.collect():
            n, plain = unbatched(row.asDict())
            split[names[n]][table].append(plain)
    return split


def attributed(result) -> dict[str, tuple]:
    return {r["order_id"]: (r["group_id"], r["share_id"], r["contribution_fen"])
            for r in result["attributed_orders"]}


def pool(result, group_id: str = "g1") -> dict:
    return next(r for r in result["group_pools"] if r["group_id"] == group_id)


base_story = register("base_story", base())


def test_base_story_attributes_the_order_to_the_share(results):
    result = results[base_story]
    assert attributed(result) == {"o1": ("g1", "s1", 1000)}
    row = result["attributed_orders"][0]
    assert (row["buyer_user_id"], row["sharer_user_id"]) == ("b", "a")
    assert row["first_paid_at"] == ts("11-05 10:00").replace(tzinfo=None)
    assert pool(result)["pool_fen"] == 1000
    assert pool(result)["is_eligible"]


def test_membership_at_a_time_follows_the_latest_event_with_event_id_breaking_ties(spark):
    events = lake_tables(spark, memberships=[
        join("e1", "g1", "u", "10-26 10:00"),
        leave("e3", "g1", "u", "11-01 10:00"),
        join("e2", "g1", "u", "11-01 10:00"),   # same instant: e3 is the later event
        join("e4", "g1", "u", "11-03 10:00"),
        join("e5", "g1", "u", "11-04 10:00"),   # a repeated join changes nothing
    ])["memberships"]
    intervals = sorted((r.joined_at, r.left_at) for r in membership_intervals(events).collect())
    naive = [ts(t).replace(tzinfo=None) for t in
             ("10-26 10:00", "11-01 10:00", "11-03 10:00", "11-04 10:00")]
    assert intervals == [(naive[0], naive[1]), (naive[2], naive[3]), (naive[3], None)]


@story
def sharer_joins_after_sharing(rows):
    rows["memberships"][1] = join("m1", "g1", "a", "11-03 10:00")  # a joins after sharing


def test_sharer_must_be_a_member_when_sharing(results):
    assert attributed(results[sharer_joins_after_sharing]) == {}


@story
def sharer_leaves_after_sharing(rows):
    rows["memberships"].append(leave("m9", "g1", "a", "11-03 10:00"))


def test_sharer_who_left_after_sharing_still_counts(results):
    assert attributed(results[sharer_leaves_after_sharing]) == {"o1": ("g1", "s1", 1000)}


@story
def buyer_is_the_sharer(rows):
    rows["shares"] = [share("s1", "g1", "b", "i1", "11-02 10:00")]


def test_self_share_does_not_attribute(results):
    assert attributed(results[buyer_is_the_sharer]) == {}


@story
def buyer_leaves_before_paying(rows):
    rows["memberships"].append(leave("m9", "g1", "b", "11-04 10:00"))


@story
def buyer_leaves_and_is_back_at_payment(rows):
    rows["memberships"].append(leave("m9", "g1", "b", "11-04 10:00"))
    rows["memberships"].append(join("m10", "g1", "b", "11-05 10:00"))  # back at payment time


def test_buyer_must_be_a_member_at_first_payment(results):
    assert attributed(results[buyer_leaves_before_paying]) == {}
    assert attributed(results[buyer_leaves_and_is_back_at_payment]) == {"o1": ("g1", "s1", 1000)}


@story
def share_a_minute_after_payment(rows):
    rows["shares"] = [share("s1", "g1", "a", "i1", "11-05 10:01")]


def test_share_after_the_first_payment_does_not_count(results):
    assert attributed(results[share_a_minute_after_payment]) == {}


@story
def share_at_the_payment_instant(rows):
    rows["shares"] = [share("s1", "g1", "a", "i1", "11-05 10:00")]


def test_share_at_the_payment_instant_counts(results):
    assert attributed(results[share_at_the_payment_instant]) == {"o1": ("g1", "s1", 1000)}


@story
def later_share_by_d(rows):
    rows["shares"].append(share("s0", "g1", "d", "i1", "11-03 10:00"))


def test_last_touch_wins(results):
    assert attributed(results[later_share_by_d]) == {"o1": ("g1", "s0", 1000)}


@story
def two_shares_at_one_instant(rows):
    rows["shares"] = [share("s9", "g1", "a", "i1", "11-02 10:00"),
                      share("s10", "g1", "d", "i1", "11-02 10:00")]


def test_last_touch_tie_goes_to_the_smallest_share_id(results):
    result = results[two_shares_at_one_instant]
    assert attributed(result)["o1"][1] == "s10"  # ids compare as strings


@story
def buyer_shares_last_twice(rows):
    rows["shares"] += [share("s2", "g1", "d", "i1", "11-03 10:00"),
                       share("s3", "g1", "b", "i1", "11-04 10:00"),
                       share("s4", "g1", "b", "i1", "11-04 11:00")]


@story
def buyer_shares_between_others(rows):
    rows["shares"] += [share("s2", "g1", "b", "i1", "11-03 10:00"),
                       share("s3", "g1", "d", "i1", "11-04 10:00"),
                       share("s4", "g1", "b", "i1", "11-05 10:00")]  # at the payment instant


@story
def only_the_buyer_shares_after_a_tie(rows):
    rows["shares"] = [share("s1", "g1", "b", "i1", "11-02 10:00"),
                      share("s9", "g1", "a", "i1", "11-02 10:00"),
                      share("s3", "g1", "b", "i1", "11-04 10:00")]


def test_the_buyers_own_latest_shares_give_way_to_the_latest_by_another_sharer(results):
    assert attributed(results[buyer_shares_last_twice]) == {"o1": ("g1", "s2", 1000)}
    assert attributed(results[buyer_shares_between_others]) == {"o1": ("g1", "s3", 1000)}
    # s1 is the tie's smallest share_id, but the buyer's: the other share of the instant
    assert attributed(results[only_the_buyer_shares_after_a_tie]) == {"o1": ("g1", "s9", 1000)}


@story
def later_touch_in_a_second_group(rows):
    rows["groups"].append(group("g2", "c"))
    rows["memberships"] += [join("n0", "g2", "c", "10-25 10:00"),
                            join("n1", "g2", "b", "10-27 10:00")]
    rows["shares"].append(share("t1", "g2", "c", "i1", "11-04 10:00"))


def test_an_order_goes_to_at_most_one_group_the_latest_touch(results):
    assert attributed(results[later_touch_in_a_second_group]) == {"o1": ("g2", "t1", 1000)}


@story
def paid_in_two_stages(rows):
    rows["payments"] = [payment("p1", "o1", 300, "11-05 10:00", stage=1),
                        payment("p2", "o1", 700, "11-11 10:00", stage=2),
                        payment("p3", "o1", 50, "11-11 10:00", stage=2)]


def test_multi_stage_order_is_attributed_once_at_its_first_payment(results):
    result = results[paid_in_two_stages]
    assert attributed(result) == {"o1": ("g1", "s1", 1050)}
    assert result["attributed_orders"][0]["first_paid_at"] == ts("11-05 10:00").replace(tzinfo=None)


@story
def two_first_payments_at_the_share_instant(rows):
    rows["shares"] = [share("s1", "g1", "a", "i1", "11-05 10:00")]
    rows["payments"] = [payment("pB", "o1", 600, "11-05 10:00"),
                        payment("pA", "o1", 400, "11-05 10:00")]


def test_first_payment_tie_goes_to_the_smallest_payment_id(results):
    result = results[two_first_payments_at_the_share_instant]
    assert attributed(result) == {"o1": ("g1", "s1", 1000)}


@story
def presale_deposit_on_10_28(rows):
    rows["shares"] = [share("s1", "g1", "a", "i1", "10-27 10:00")]
    rows["payments"] = [payment("p1", "o1", 100, "10-28 10:00", stage=1),
                        payment("p2", "o1", 900, "11-11 10:00", stage=2)]


def test_presale_deposit_before_the_window_keeps_the_order_out(results):
    assert attributed(results[presale_deposit_on_10_28]) == {}


WINDOW_EDGES = [
    ("2018-11-01T00:00:00+08:00", True),       # accumulation_start is inclusive
    ("2018-10-31T15:59:59.999999Z", False),
    ("2018-11-11T23:59:59+08:00", True),
    ("2018-11-12T00:00:00+08:00", False),      # accumulation_end is exclusive
    ("2018-11-11T16:00:00Z", False),           # the same instant, written in UTC
]


def paid_only_at(paid_at: str) -> dict[str, list[dict]]:
    rows = base()
    rows["shares"] = [share("s1", "g1", "a", "i1", "10-30 10:00")]
    rows["payments"] = [payment("p1", "o1", 1000, paid_at)]
    return rows


for edge, _ in WINDOW_EDGES:
    register(f"paid only at {edge}", paid_only_at(edge))


@pytest.mark.parametrize(("paid_at", "counts"), WINDOW_EDGES)
def test_accumulation_window_edges(results, paid_at, counts):
    assert bool(attributed(results[f"paid only at {paid_at}"])) is counts


@story
def refunds_either_side_of_draw_open(rows):
    rows["refunds"] = [refund("r1", "o1", 300, "11-12 15:59"),
                       refund("r2", "o1", 500, "11-12 16:01")]


def test_refund_before_draw_open_reduces_the_contribution_and_after_does_not(results):
    assert attributed(results[refunds_either_side_of_draw_open])["o1"][2] == 700


@story
def refund_at_draw_open(rows):
    rows["refunds"] = [refund("r1", "o1", 300, "11-12 16:00")]


def test_refund_at_the_draw_open_instant_counts(results):
    assert attributed(results[refund_at_draw_open])["o1"][2] == 700


@story
def refunds_beyond_the_payment(rows):
    rows["refunds"] = [refund("r1", "o1", 1000, "11-06 10:00"),
                       refund("r2", "o1", 200, "11-07 10:00")]


def test_full_refund_leaves_a_zero_contribution_never_negative(results):
    result = results[refunds_beyond_the_payment]
    assert attributed(result) == {"o1": ("g1", "s1", 0)}
    assert pool(result)["pool_fen"] == 0
    assert not pool(result)["is_eligible"]


@story
def payment_a_second_after_draw_open(rows):
    rows["payments"].append(payment("p2", "o1", 500, "11-12 16:00:01"))


def test_payment_after_draw_open_is_not_in_the_contribution(results):
    assert attributed(results[payment_a_second_after_draw_open])["o1"][2] == 1000


CLIENT_VERSIONS = [
    ("8.10.0", "8.1.0", True),    # 8.10.0 > 8.9.0 > 8.1.0 numerically
    ("8.9.0", "8.10", True),
    ("8.1", "8.1.0.0", True),     # missing components are zeros
    ("8.0.9", "8.1.0", False),
    ("8.1.0", "7.99.99", False),
    ("10.0.0", "8.2.0", True),
]


def from_clients(order_version: str, share_version: str) -> dict[str, list[dict]]:
    rows = base()
    rows["orders"] = [order("o1", "b", "i1", version=order_version)]
    rows["shares"] = [share("s1", "g1", "a", "i1", "11-02 10:00", version=share_version)]
    return rows


for ordered_on, shared_on, _ in CLIENT_VERSIONS:
    register(f"ordered on {ordered_on}, shared on {shared_on}",
             from_clients(ordered_on, shared_on))


@pytest.mark.parametrize(("order_version", "share_version", "counts"), CLIENT_VERSIONS)
def test_client_versions_compare_as_versions(results, order_version, share_version, counts):
    result = results[f"ordered on {order_version}, shared on {share_version}"]
    assert bool(attributed(result)) is counts


@story
def b_and_d_buy_more(rows):
    rows["orders"].append(order("o2", "b", "i1"))
    rows["orders"].append(order("o3", "d", "i1"))
    rows["payments"] += [payment("p2", "o2", 250, "11-06 10:00"),
                         payment("p3", "o3", 40, "11-06 10:00")]


def test_member_contribution_sums_the_buyers_orders_in_the_group(results):
    result = results[b_and_d_buy_more]
    members = {r["user_id"]: r["contribution_fen"] for r in result["member_contributions"]}
    assert members == {"b": 1250, "d": 40}
    assert pool(result)["pool_fen"] == 1290


@story
def creator_is_a_man(rows):
    rows["users"][0] = user("c", gender="M")


def test_creator_must_be_a_woman(results):
    row = pool(results[creator_is_a_man])
    assert not row["is_valid"] and not row["is_eligible"]
    assert row["invalid_reason"] == "creator gender M, must be F"


@story
def creator_too_naughty_then_raised(rows):
    rows["users"][0] = user("c", naughty=599, since="10-01 00:00")
    rows["users"].append(user("c", naughty=900, since="10-25 10:01"))  # raised after creation


@story
def creator_at_the_minimum_then_dropped(rows):
    rows["users"][0] = user("c", naughty=600, since="10-01 00:00")
    rows["users"].append(user("c", naughty=100, since="10-26 00:00"))  # dropped after creation


def test_creator_naughty_value_is_taken_at_creation(results):
    row = pool(results[creator_too_naughty_then_raised])
    assert row["invalid_reason"] == "creator naughty value 599 below 600"
    assert pool(results[creator_at_the_minimum_then_dropped])["is_valid"]


@story
def creator_profile_starts_after_creation(rows):
    rows["users"][0] = user("c", since="10-25 10:01")


def test_creator_without_a_profile_at_creation_is_invalid(results):
    result = results[creator_profile_starts_after_creation]
    assert pool(result)["invalid_reason"] == "creator profile unknown at creation"


def _crowd(n: int, at: str = "10-28 10:00") -> list[dict]:
    return [join(f"x{i}", "g1", f"x{i}", at) for i in range(n)]


@story
def fifteen_members(rows):
    rows["memberships"] += _crowd(11)  # 4 + 11 = 15


@story
def sixteen_members_for_a_day(rows):
    rows["memberships"] += _crowd(11)
    rows["memberships"] += [join("y", "g1", "y", "10-29 10:00"),
                            leave("y2", "g1", "y", "10-30 10:00")]


def test_fifteen_members_is_valid_sixteen_at_any_moment_is_not(results):
    assert pool(results[fifteen_members])["is_valid"]
    row = pool(results[sixteen_members_for_a_day])
    assert row["invalid_reason"] == "16 members at once before draw_open, more than 15"
    assert row["member_count_at_draw_open"] == 15


@story
def fifteen_members_and_a_swap(rows):
    rows["memberships"] += _crowd(11)
    # The join's id sorts first: counting event by event would see 16 for a moment.
    rows["memberships"] += [join("z0", "g1", "z", "10-30 10:00"),
                            leave("z1", "g1", "x0", "10-30 10:00")]


def test_simultaneous_leave_and_join_never_count_as_sixteen(results):
    assert pool(results[fifteen_members_and_a_swap])["is_valid"]


@story
def crowd_after_draw_open(rows):
    rows["memberships"] += _crowd(12, at="11-12 16:00:01")


def test_crowds_after_draw_open_do_not_invalidate(results):
    assert pool(results[crowd_after_draw_open])["is_valid"]


@story
def d_leaves_at_draw_open(rows):
    rows["memberships"].append(leave("m9", "g1", "d", "11-12 16:00"))  # leaves at the instant


@story
def d_leaves_and_e_joins_at_draw_open(rows):
    rows["memberships"].append(leave("m9", "g1", "d", "11-12 16:00"))
    rows["memberships"].append(join("m10", "g1", "e", "11-12 16:00"))


def test_member_count_at_draw_open_and_the_minimum_for_eligibility(results):
    row = pool(results[d_leaves_at_draw_open])
    assert row["member_count_at_draw_open"] == 3
    assert row["is_valid"] and not row["is_eligible"]
    assert pool(results[d_leaves_and_e_joins_at_draw_open])["member_count_at_draw_open"] == 4
    assert pool(results[d_leaves_and_e_joins_at_draw_open])["is_eligible"]


@story
def membership_in_a_ghost_group(rows):
    rows["memberships"].append(join("q1", "ghost", "a", "10-27 10:00"))


def test_group_known_only_from_memberships_is_excluded_with_a_reason(results):
    result = results[membership_in_a_ghost_group]
    assert pool(result, "ghost")["invalid_reason"] == "group record not received"
