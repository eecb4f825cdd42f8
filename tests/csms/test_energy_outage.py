"""Failsafe limits (csms.energy.outage): whatever moment the central system goes away, no group
goes over its limit, and an outage freezes the allocation rather than shrinking it."""

from __future__ import annotations

import random
from datetime import time

import pytest

from csms.energy.allocator import Group, Session, Window, allocate, paths
from csms.energy.outage import Holder, outage_limits

A = 230.0 * 3


def idle(group: str, n: int = 1, rating: float = 32, minimum: float = 6) -> Holder:
    return Holder(group, (), n, rating * A, minimum * A)


def running(group: str, *shares: float, idle_outlets: int = 0, rating: float = 32) -> Holder:
    return Holder(group, tuple(s * A for s in shares), idle_outlets, rating * A, 6 * A)


def amps(found: dict[str, float]) -> dict[str, float]:
    return {k: round(w / A, 2) for k, w in found.items()}


def test_idle_members_share_each_groups_lowest_limit() -> None:
    groups = {"site": Group("site", 100 * A, windows=(Window(time(17), time(20), 60 * A),)),
              "feeder": Group("feeder", 20 * A, parent="site")}
    holders = {f"cp{i}": idle("site") for i in range(6)} | {"f1": idle("feeder"), "f2": idle("feeder")}
    found = amps(outage_limits(groups, holders, {"site": 100 * A, "feeder": 20 * A}))
    assert found["cp0"] == 7.5  # all eight at once stay within the evening's 60 A
    assert found["f1"] == 7.5  # the feeder's 10 A each is not the tightest
    crowded = outage_limits({"site": Group("site", 10 * A)}, {"a": idle("site"), "b": idle("site")},
                            {"site": 10 * A})
    assert crowded == {"a": 0.0, "b": 0.0}  # 5 A each is under the minimum: they could not charge


def test_an_outage_freezes_the_allocation() -> None:
    """Three of ten 32 A chargers take 96 of 100 A: they keep 32 A through an outage; the idle
    ones get the 4 A left, under their minimum: 0 (a session started offline waits)."""
    holders = {f"run{i}": running("site", 32) for i in range(3)} | {f"idle{i}": idle("site") for i in range(7)}
    found = amps(outage_limits({"site": Group("site", 100 * A)}, holders, {"site": 100 * A}))
    assert [found[f"run{i}"] for i in range(3)] == [32, 32, 32]
    assert {found[f"idle{i}"] for i in range(7)} == {0.0}
    one = amps(outage_limits({"site": Group("site", 40 * A)}, {"a": running("site", 32), "b": idle("site")},
                             {"site": 40 * A}))
    assert one == {"a": 32, "b": 8}  # together 40 A, before the lease lapses and after


def test_members_that_keep_what_they_hold_are_counted_at_it() -> None:
    holders = {"refusing": Holder("site", (32 * A,), 0, 32 * A, 6 * A, fixed_w=32 * A),
               "offline": Holder("site", (), 2, 32 * A, 6 * A, fixed_w=10 * A), "b": idle("site"), "c": idle("site")}
    found = amps(outage_limits({"site": Group("site", 100 * A)}, holders, {"site": 100 * A}))
    assert found == {"refusing": 32, "offline": 10, "b": 24, "c": 24}  # (100 - 32 - 2 * 10) / 2


def test_a_charge_point_with_idle_connectors_shares_its_level() -> None:
    """Two connectors, one charging at 20 A: its failsafe holds on both; the one charging draws
    max(20, failsafe), the idle one the failsafe."""
    holders = {"two": running("site", 20, idle_outlets=1), "other": idle("site")}
    found = amps(outage_limits({"site": Group("site", 50 * A)}, holders, {"site": 50 * A}))
    assert found == {"two": 15, "other": 15}  # 20 + 15 + 15 = 50


def _draws(groups: dict[str, Group], holders: dict[str, Holder], found: dict[str, float],
           lapsed: bool) -> dict[str, float]:
    """Per group, the most its outlets can draw during an outage: with every lease in force
    (max of share and failsafe) or with every lease lapsed (failsafes alone)."""
    route = paths(groups)
    total = dict.fromkeys(groups, 0.0)
    for key, holder in holders.items():
        f = found[key]
        draw = holder.outlets * f if lapsed else holder.draws_at(f)
        for g in route[holder.group]:
            total[g] += draw
    return total


def test_random_layouts_never_exceed_a_limit_in_an_outage() -> None:
    """As the manager does: members beyond control (offline, refusing) keep what they hold, their
    idle outlets' worth is kept out of the shares, the rest is allocated; then with the failsafes
    no moment of an outage exceeds a limit, unless what is beyond control alone does."""
    rng = random.Random(1919)
    for _ in range(400):
        lowest = rng.uniform(10, 100) * A
        groups = {"site": Group("site", rng.uniform(lowest, 200 * A),
                                windows=(Window(time(17), time(20), lowest),) if rng.random() < 0.5 else ()),
                  "f1": Group("f1", rng.uniform(10, 120) * A, parent="site"),
                  "f2": Group("f2", rng.uniform(10, 120) * A, parent="site")}
        route = paths(groups)
        now = {g: group.limit_w for g, group in groups.items()}  # out of the window: the higher limit
        layout: dict[str, tuple[str, int, float | None]] = {}
        sessions, beyond, kept = [], dict.fromkeys(groups, 0.0), {}
        for i in range(rng.randint(1, 12)):
            group, outlets = rng.choice(list(groups)), rng.choice([1, 1, 2])
            busy, fixed = rng.randint(0, outlets), rng.choice([None, None, None, rng.uniform(0, 10) * A])
            layout[f"m{i}"] = (group, outlets, fixed)
            for c in range(busy):
                if fixed is None:
                    sessions.append(Session(f"m{i}/{c}", group, rng.random(), 32 * A, 6 * A))
                else:  # it keeps the larger of its share and its failsafe: out of the allocation
                    kept[f"m{i}/{c}"] = max(fixed, rng.uniform(0, 10) * A)
                    for g in route[group]:
                        beyond[g] += kept[f"m{i}/{c}"]
            for g in route[group]:
                beyond[g] += (outlets - busy) * (fixed or 0.0)
        net = {g: Group(g, max(0.0, now[g] - beyond[g]), group.parent) for g, group in groups.items()}
        allocation = allocate(net, sessions)
        held = allocation.limits | kept
        holders = {}
        for key, (group, outlets, fixed) in layout.items():
            shares = tuple(w for k, w in held.items() if k.split("/")[0] == key and w > 0)
            holders[key] = Holder(group, shares, outlets - len(shares), 32 * A, 6 * A, fixed)
        found = outage_limits(groups, holders, now)
        while_leased = _draws(groups, holders, found, lapsed=False)
        lapsed = _draws(groups, holders, found, lapsed=True)
        fixed_lapsed = _draws(groups, {k: h for k, h in holders.items() if h.fixed_w is not None}, found, True)
        for g, group in groups.items():
            low = min([group.limit_w, *(w.limit_w for w in group.windows)])
            assert while_leased[g] <= max(now[g], beyond[g]) + 1e-3, (g, while_leased[g], now[g], beyond[g])
            assert lapsed[g] <= max(low, fixed_lapsed[g]) + 1e-3
        for key, holder in holders.items():
            assert found[key] == 0 or found[key] + 1e-6 >= holder.min_w or found[key] == holder.fixed_w
            calm = not any(g.windows for g in groups.values()) and all(h.fixed_w is None for h in holders.values())
            if calm and holder.idle == 0:
                assert found[key] == pytest.approx(min(holder.shares, default=0.0))  # frozen
