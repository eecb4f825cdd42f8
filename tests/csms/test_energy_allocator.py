"""The load-group allocator (csms.energy.allocator): who gets how much of a shared limit."""

from __future__ import annotations

import random
from datetime import time

import pytest

from csms.energy.allocator import (
    Allocation,
    Group,
    Session,
    Window,
    allocate,
    amps_to_watts,
    usable,
    watts_to_amps,
)

A = 230.0 * 3  # one amp on three phases, in watts


def s(key: str, arrived: float, max_a: float = 32, min_a: float = 6, group: str = "site",
      draw_a: float | None = None, given_a: float | None = None, priority: int = 0) -> Session:
    return Session(key, group, arrived, max_a * A, min_a * A, None if draw_a is None else draw_a * A,
                   None if given_a is None else given_a * A, priority)


def amps(result: Allocation) -> dict[str, float]:
    return {k: round(v / A, 3) for k, v in result.limits.items()}


SITE = {"site": Group("site", 100 * A)}


def test_units() -> None:
    assert amps_to_watts(16, 3) == 16 * 3 * 230
    assert watts_to_amps(amps_to_watts(16, 1), 1) == 16


def test_equal_shares_and_room_for_all() -> None:
    assert amps(allocate(SITE, [s("a", 1), s("b", 2)])) == {"a": 32, "b": 32}  # 64 A fits in 100
    shared = allocate(SITE, [s(k, i) for i, k in enumerate("abcde")])  # 5 × 32 A > 100 A
    assert amps(shared) == dict.fromkeys("abcde", 20)
    assert round(shared.group_totals["site"] / A, 6) == 100


def test_beyond_capacity_sessions_wait_in_arrival_order() -> None:
    sessions = [s(f"cp{i:02}", arrived=i) for i in range(20)]  # 20 × 6 A minimum > 100 A
    result = allocate(SITE, reversed(sessions))
    got = amps(result)
    admitted = [k for k, v in got.items() if v > 0]
    assert sorted(admitted) == [f"cp{i:02}" for i in range(16)]  # 16 × 6 = 96 A; the 17th does not fit
    assert result.waiting == [f"cp{i:02}" for i in range(16, 20)]
    assert all(got[k] >= 6 for k in admitted)
    assert sum(result.limits.values()) <= 100 * A + 1e-6
    # one stops: the first waiting one starts, not a later one
    after = amps(allocate(SITE, sessions[1:]))
    assert after["cp16"] >= 6 and after["cp17"] == 0


def test_what_a_session_does_not_use_goes_to_the_others() -> None:
    # a: given 20 A but draws 10 A (its EV limits itself): it keeps 11 A, b and c share the rest
    sessions = [s("a", 1, draw_a=10, given_a=20), s("b", 2, draw_a=20, given_a=20), s("c", 3)]
    got = amps(allocate({"site": Group("site", 60 * A)}, sessions))
    assert got["a"] == 11  # its draw plus 10 %
    assert got["b"] == got["c"] == pytest.approx((60 - 11) / 2)
    # drawing near its limit again, it can have its full share back
    back = amps(allocate({"site": Group("site", 60 * A)}, [s("a", 1, draw_a=10.5, given_a=11), s("b", 2), s("c", 3)]))
    assert back == {"a": 20, "b": 20, "c": 20}


def test_usable_never_below_the_minimum_nor_above_the_rating() -> None:
    assert usable(s("a", 1, draw_a=0, given_a=16)) == 6 * A
    assert usable(s("a", 1, max_a=16, draw_a=15.9, given_a=16)) == 16 * A
    assert usable(s("a", 1)) == 32 * A  # nothing measured yet


def test_nested_groups_constrain_their_members() -> None:
    groups = {"site": Group("site", 100 * A), "feeder": Group("feeder", 40 * A, parent="site")}
    sessions = [s("f1", 1, group="feeder"), s("f2", 2, group="feeder"), s("f3", 3, group="feeder"),
                s("o1", 4), s("o2", 5)]
    result = allocate(groups, sessions)
    got = amps(result)
    assert sum(got[k] for k in ("f1", "f2", "f3")) == pytest.approx(40, abs=0.01)
    assert got["f1"] == pytest.approx(40 / 3, abs=0.001)
    assert got["o1"] == got["o2"] == 30  # the site's other 60 A
    assert result.group_totals["feeder"] == pytest.approx(40 * A)


def test_priority_fills_higher_classes_first() -> None:
    groups = {"site": Group("site", 50 * A, policy="priority")}
    got = amps(allocate(groups, [s("low", 1), s("high", 2, priority=1), s("low2", 3)]))
    assert got["high"] == 32
    assert got["low"] == got["low2"] == pytest.approx(9)  # 50 - 32 = 18 A between them (≥ 6 each)
    # admission by priority too: a high session that comes last is admitted before low ones
    tight = {"site": Group("site", 12 * A, policy="priority")}
    got = amps(allocate(tight, [s("l1", 1), s("l2", 2), s("h", 3, priority=5)]))
    assert got["h"] >= 6 and sorted(got.values()).count(0) == 1


def test_time_of_day_windows() -> None:
    group = Group("site", 100 * A, windows=(Window(time(17), time(20), 40 * A), Window(time(23), time(6), 60 * A)))
    sessions = [s("a", 1), s("b", 2), s("c", 3)]
    assert amps(allocate({"site": group}, sessions, at=time(12))) == {"a": 32, "b": 32, "c": 32}
    assert sum(amps(allocate({"site": group}, sessions, at=time(18))).values()) == pytest.approx(40, abs=0.01)
    assert sum(amps(allocate({"site": group}, sessions, at=time(2))).values()) == pytest.approx(60, abs=0.01)


def test_a_circle_or_an_unknown_parent_is_refused() -> None:
    with pytest.raises(ValueError, match="circle"):
        allocate({"a": Group("a", 1, parent="b"), "b": Group("b", 1, parent="a")}, [])
    with pytest.raises(ValueError, match="unknown parent"):
        allocate({"a": Group("a", 1, parent="x")}, [])


def test_random_groups_never_exceed_a_limit_and_keep_the_minimum() -> None:
    rng = random.Random(19)
    for _ in range(300):
        groups = {"site": Group("site", rng.uniform(10, 200) * A, policy=rng.choice(["equal", "priority"]))}
        for f in range(rng.randint(0, 3)):
            groups[f"f{f}"] = Group(f"f{f}", rng.uniform(5, 100) * A, parent=rng.choice(list(groups)))
        sessions = []
        for i in range(rng.randint(0, 40)):
            given = rng.choice([None, rng.uniform(6, 32)])
            sessions.append(s(f"s{i}", rng.random(), max_a=rng.choice([16, 32]), group=rng.choice(list(groups)),
                              given_a=given, draw_a=None if given is None else rng.uniform(0, given),
                              priority=rng.randint(0, 2)))
        result = allocate(groups, sessions)
        for gid in groups:
            assert result.group_totals[gid] <= result.group_limits[gid] + 1e-3
        for session in sessions:
            limit = result.limits[session.key]
            assert limit == 0 or session.min_w - 1e-6 <= limit <= max(usable(session), session.min_w) + 1e-6
        assert set(result.waiting) == {k for k, v in result.limits.items() if v == 0}
