"""Property: on random small campaigns, Spark attribution equals the plain-Python reading.

Each example is a batch of independent campaigns run through Spark together (every id
prefixed with its campaign's number, which keeps each campaign's id order and ties), so
one Spark run checks several campaigns: Spark's fixed cost per run is most of the time.
"""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spark_jobs.attribute_orders import standings
from spark_jobs.transforms.membership import membership_intervals
from spark_jobs.transforms.params import RuleParams
from tests import reference_rules
from tests.lake_builders import batched, lake_tables, ts

# Few instants, including the window edges and draw_open, so ties and edges are common.
INSTANTS = ["10-25 10:00", "10-31 23:59", "11-01 00:00", "11-03 12:00", "11-05 10:00",
            "11-11 23:59", "11-12 00:00", "11-12 16:00", "11-12 17:00"]
# Hypothesis favours the first element of a list: put the common case first.
VERSIONS = ["8.10.0", "8.1.0", "8.9.0", "8.1", "8.0.9"]
USERS = [f"u{i}" for i in range(5)]
GROUPS = ["g0", "g1", "g2"]
ITEMS = ["i0", "i0", "i1"]
SHARE_INSTANTS = ["11-03 12:00", "10-31 23:59", "11-05 10:00"]  # few: last-touch ties
PAY_INSTANTS = ["11-05 10:00", "11-11 23:59", "11-01 00:00", "11-12 00:00", "11-03 12:00",
                "10-31 23:59", "11-12 16:00", "11-12 17:00"]

instant = st.sampled_from(INSTANTS)


@st.composite
def campaigns(draw) -> dict[str, list[dict]]:
    users = [
        {"user_id": u, "gender": draw(st.sampled_from("FFM")),
         "naughty_value": draw(st.sampled_from([500, 600, 700])), "valid_from": t}
        for u in USERS
        for t in draw(st.lists(st.sampled_from(INSTANTS[:4]), min_size=1, max_size=2,
                               unique=True))
    ]
    groups = [{"group_id": g, "creator_user_id": draw(st.sampled_from(USERS)), "name": g,
               "created_at": draw(st.sampled_from(INSTANTS[:3]))} for g in GROUPS]
    # Most users join early; random joins and leaves come on top (churn and ties).
    early = [(g, u) for g in GROUPS for u in USERS if draw(st.sampled_from([True, True, False]))]
    extra = [(draw(st.sampled_from(GROUPS)), draw(st.sampled_from(USERS)))
             for _ in range(draw(st.integers(0, 10)))]
    memberships = [
        {"event_id": f"e{i:02d}", "group_id": g, "user_id": u,
         "action": "join" if i < len(early) else draw(st.sampled_from(["join", "leave"])),
         "event_time": draw(st.sampled_from(INSTANTS[:3] if i < len(early) else INSTANTS))}
        for i, (g, u) in enumerate(early + extra)
    ]
    shares = [
        {"share_id": f"s{i}", "group_id": draw(st.sampled_from(GROUPS)),
         "sharer_user_id": draw(st.sampled_from(USERS)), "item_id": draw(st.sampled_from(ITEMS)),
         "shared_at": draw(st.sampled_from(SHARE_INSTANTS)),
         "client_version": draw(st.sampled_from(VERSIONS))}
        for i in range(draw(st.integers(2, 12)))
    ]
    orders, payments, refunds = [], [], []
    for i in range(draw(st.integers(1, 8))):
        oid = f"o{i}"
        orders.append({"order_id": oid, "buyer_user_id": draw(st.sampled_from(USERS)),
                       "item_id": draw(st.sampled_from(ITEMS)), "seller_id": "s",
                       "total_fen": 1000, "created_at": INSTANTS[0],
                       "client_version": draw(st.sampled_from(VERSIONS))})
        for k in range(draw(st.sampled_from([1, 2, 1, 0, 3]))):
            payments.append({"payment_id": f"p{i}{k}", "order_id": oid, "stage": k + 1,
                             "amount_fen": draw(st.integers(1, 900)),
                             "paid_at": draw(st.sampled_from(PAY_INSTANTS))})
        for k in range(draw(st.integers(0, 1))):
            refunds.append({"refund_id": f"r{i}{k}", "order_id": oid,
                            "amount_fen": draw(st.integers(1, 1200)),
                            "refunded_at": draw(instant)})
    return {"users": users, "groups": groups, "memberships": memberships, "shares": shares,
            "orders": orders, "payments": payments, "refunds": refunds}


def with_instants(rows: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """The same rows with every timestamp parsed, as the reference reads them."""
    fields = {"valid_from", "created_at", "event_time", "shared_at", "paid_at", "refunded_at"}
    return {name: [{k: ts(v) if k in fields else v for k, v in r.items()} for r in table]
            for name, table in rows.items()}


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(batch=st.lists(campaigns(), min_size=1, max_size=8))
def test_spark_attribution_matches_the_plain_python_reference(spark, config, batch):
    # A small member cap and minimum so random campaigns hit both limits.
    small = dataclasses.replace(config, group_max_members=3, group_min_members=2)
    rows = batched(batch)
    tables = lake_tables(spark, **rows)
    result = standings(tables, membership_intervals(tables["memberships"]).cache(),
                       RuleParams.from_config(small))
    got_orders = {r.order_id: {"group_id": r.group_id, "share_id": r.share_id,
                               "contribution_fen": r.contribution_fen}
                  for r in result["attributed_orders"].collect()}
    got_pools = {r.group_id: {"pool_fen": r.pool_fen,
                              "member_count_at_draw_open": r.member_count_at_draw_open,
                              "is_valid": r.is_valid, "is_eligible": r.is_eligible}
                 for r in result["group_pools"].collect() if r.created_at is not None}
    expected = with_instants(rows)
    assert got_orders == reference_rules.attribute(expected, small)
    assert got_pools == reference_rules.pools(expected, small)
