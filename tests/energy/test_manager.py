"""The load manager without sockets or a store: plain functions stand for reading, sending and
recording, so what it sends when is checked exactly (issue #19)."""

from __future__ import annotations

import asyncio
import time as time_module
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from csms.energy.allocator import Allocation
from csms.energy.config import GroupSpec, MemberSpec
from csms.energy.control import CLOCK_SKEW_S
from csms.energy.manager import AWAY_RETRY_S, FAILED, REFUSED, SENT, UNSUPPORTED, LoadManager
from csms.energy.meter import draw_watts
from csms.energy.state import Layout, Live

GROUP = GroupSpec(id=1, name="g", limit=100, unit="A", phases=3, min_per_session=6)
W_PER_A = 3 * 230


class Harness:
    def __init__(self, members: int = 3, answer: str = SENT) -> None:
        self.layout = Layout.of([GROUP], [MemberSpec(i, 1, "charge_point", f"CP{i}", 0, 32) for i in range(members)])
        self.open: list[Live] = []
        self.sent: list[tuple[str, int | None, float]] = []  # (charge point, transaction or None, W)
        self.answer = answer
        self.answers: dict[str, str] = {}  # per charge point, over ``answer``
        self.failsafe_answers: dict[str, str] = {}  # to its TxDefaultProfile, over ``answers``
        self.recorded: list[Allocation] = []
        self.now = 0.0
        self.manager = LoadManager(self.read_layout, self.read_open, self.send, self.record,
                                   period=0.01, lease=300, clock=lambda: self.now)

    async def read_layout(self) -> Layout:
        return self.layout

    async def read_open(self, charge_points: set[str]) -> list[Live]:
        return self.open

    async def send(self, live: Live | None, member: MemberSpec, watts: float) -> str:
        cp = member.charge_point_id
        self.sent.append((cp, None if live is None else live.transaction_id, watts))
        if live is None and cp in self.failsafe_answers:
            return self.failsafe_answers[cp]
        return self.answers.get(cp, self.answer)

    def record(self, allocation: Allocation, layout: Layout) -> None:
        self.recorded.append(allocation)

    def shares(self) -> dict[str, float]:
        return {cp: round(w / W_PER_A, 2) for cp, tx, w in self.sent if tx is not None}


async def test_a_reallocation_sends_failsafes_once_then_only_what_moved() -> None:
    h = Harness()
    await h.manager.reload()
    for i in range(3):
        h.manager.started(f"CP{i}", 1, 100 + i)
    await h.manager.reallocate()
    failsafes = [(cp, round(w / W_PER_A, 2)) for cp, tx, w in h.sent if tx is None]
    assert sorted(failsafes) == [("CP0", 32), ("CP1", 32), ("CP2", 32)]  # each charging: its share
    assert h.shares() == {"CP0": 32, "CP1": 32, "CP2": 32}
    h.sent.clear()
    await h.manager.reallocate()
    assert h.sent == []  # nothing moved, no lease due: nothing sent
    h.now += 2  # a reading taken after its share took effect
    h.manager.metered("CP0", 1, 10 * W_PER_A)  # the EV takes 10 A of 32: the rest goes to the others
    await h.manager.reallocate()
    assert h.shares()["CP0"] == pytest.approx(11, abs=0.01)  # its draw and a 10 % margin
    h.now += 151  # half the lease: every share is renewed
    h.sent.clear()
    await h.manager.reallocate()
    assert sorted(cp for cp, tx, _ in h.sent) == ["CP0", "CP1", "CP2"]


async def test_refusals_and_failures() -> None:
    h = Harness(members=2)
    h.answers["CP0"], h.failsafe_answers["CP0"] = REFUSED, SENT
    await h.manager.reload()
    h.manager.started("CP0", 1, 1)
    for _ in range(2):  # a Rejected share may be a transaction it does not know yet: tried again
        await h.manager.reallocate()
        assert h.manager.refusing == set()
    await h.manager.reallocate()  # the third in a row: it refuses
    assert h.manager.refusing == {("CP0", 0)}
    h.manager.connected("CP0")  # after a reconnect it is asked again
    assert h.manager.refusing == set()
    h.answers["CP0"] = UNSUPPORTED  # NotSupported: at once
    await h.manager.reallocate()
    assert h.manager.refusing == {("CP0", 0)}
    h.manager.connected("CP0")
    h.answers["CP0"], h.failsafe_answers["CP0"] = SENT, REFUSED  # a TxDefaultProfile rejected: at once
    await h.manager.reallocate()
    assert h.manager.refusing == {("CP0", 0)}


async def test_a_charge_point_a_profile_did_not_reach_keeps_what_it_holds() -> None:
    """Offline (or no answer): its session keeps the share it holds and its failsafe stays
    counted; nothing more is sent to it until it connects or AWAY_RETRY_S passed."""
    h = Harness(members=2)
    h.layout = Layout.of([replace(GROUP, limit=50)], list(h.layout.members.values()))
    await h.manager.reload()
    h.manager.started("CP1", 1, 2)
    await h.manager.reallocate()
    assert h.shares() == {"CP1": 32} and h.manager.failsafe_w[("CP0", 0)] == pytest.approx(18 * W_PER_A)
    h.answers["CP1"] = FAILED
    h.manager.started("CP0", 1, 1)  # the equal share is 25 A: CP1's fall to 25 A does not land
    h.sent.clear()
    await h.manager.reallocate()
    assert ("CP0", 1, pytest.approx(25 * W_PER_A)) not in h.sent  # the rise waits for the fall
    assert h.manager.away.keys() == {"CP1"}
    h.sent.clear()
    await h.manager.reallocate()  # CP1 keeps its 32 A: CP0 gets the 18 A left, nothing to CP1
    assert h.sent == [("CP0", 1, pytest.approx(18 * W_PER_A))]  # (its failsafe was 18 A already)
    h.now += AWAY_RETRY_S
    h.sent.clear()
    await h.manager.reallocate()
    assert ("CP1", 2, pytest.approx(25 * W_PER_A)) in h.sent  # tried again
    h.answers["CP1"] = SENT
    h.manager.connected("CP1")
    await h.manager.reallocate()
    await h.manager.reallocate()
    assert h.manager.away == {} and h.manager.last.limits == {"CP0/1": pytest.approx(25 * W_PER_A),
                                                             "CP1/1": pytest.approx(25 * W_PER_A)}


async def test_resume_from_the_store_and_stop_hooks() -> None:
    h = Harness()
    resumed = Live("CP1", 1, 7, 0.0)
    resumed.sent_w = 32 * W_PER_A  # accepted before the restart: not sent again
    h.open = [resumed, Live("NOT-A-MEMBER", 1, 8, 0.0)]
    await h.manager.start()
    try:
        await asyncio.wait_for(_until(lambda: h.recorded), 2)
        assert set(h.manager.sessions) == {"CP1/1"}
        # its lease may be near its end: renewed at once, at the share it holds
        assert [(cp, tx, w) for cp, tx, w in h.sent if tx] == [("CP1", 7, 32 * W_PER_A)]
        h.manager.ended("CP1", 7)
        assert h.manager.sessions == {}
        h.manager.started("OTHER", 1, 9)  # no member: ignored
        assert not h.manager.watches("OTHER") and h.manager.sessions == {}
    finally:
        await h.manager.close()


async def _until(check: Any) -> None:
    while not check():
        await asyncio.sleep(0.01)


@pytest.mark.parametrize(("sampled", "watts"), [
    ([{"measurand": "Power.Active.Import", "unit": "kW", "value": "7.4"}], 7400),
    ([{"measurand": "Power.Active.Import", "phase": p, "unit": "W", "value": "1000"} for p in ("L1", "L2", "L3")],
     3000),
    ([{"measurand": "Current.Import", "phase": p, "unit": "A", "value": "10"} for p in ("L1-N", "L2-N")], 4600),
    ([{"measurand": "Energy.Active.Import.Register", "value": "1234"}], None),
    ([{"measurand": "Current.Import", "unit": "A", "value": "16"}], None),  # on how many phases?
    ([{"measurand": "Power.Active.Import", "value": 2.5, "unitOfMeasure": {"unit": "W", "multiplier": 3}}], 2500),
])
def test_draw_from_sampled_values(sampled: list[dict[str, Any]], watts: float | None) -> None:
    assert draw_watts(sampled) == (pytest.approx(watts) if watts is not None else None)


async def test_a_fleets_cards_come_first_under_policy_priority() -> None:
    h = Harness(members=2)
    h.layout = Layout.of([replace(GROUP, limit=10, policy="priority", tag_priorities=(("FLEET", 5),))],
                         list(h.layout.members.values()))
    await h.manager.reload()
    h.manager.started("CP0", 1, 1, tags=("VISITOR", None))
    h.now += 1
    h.manager.started("CP1", 1, 2, tags=("CARD-7", "FLEET"))  # later, but its parent tag ranks
    allocation = await h.manager.reallocate()
    assert allocation.waiting == ["CP0/1"]  # 10 A fit one session at its 6 A minimum
    assert allocation.limits["CP1/1"] == pytest.approx(10 * W_PER_A)


def test_the_next_window_edge_in_the_sites_time() -> None:
    group = replace(GROUP, windows=((time(17, 0), time(20, 0), 60.0),), timezone="Europe/Berlin")
    at = datetime(2026, 12, 5, 15, 30, tzinfo=UTC)  # 16:30 in Berlin
    assert group.next_edge(at) == 30 * 60
    assert group.next_edge(datetime(2026, 12, 5, 19, 59, tzinfo=UTC)) == 20 * 3600 + 60  # 20:59: 17:00 next day
    assert GROUP.next_edge(at) is None


async def test_a_session_resumed_after_a_restart_keeps_its_place() -> None:
    """Arrival order is wall-clock time for resumed and new sessions alike: a restart does not put
    every session that starts after it ahead of those that were charging."""
    h = Harness(members=2)
    h.layout = Layout.of([replace(GROUP, limit=10)], list(h.layout.members.values()))
    h.open = [Live("CP0", 1, 7, time_module.time() - 3600)]  # started an hour ago
    await h.manager.reload()
    h.manager.started("CP1", 1, 8)
    allocation = await h.manager.reallocate()
    assert allocation.waiting == ["CP1/1"] and allocation.limits["CP0/1"] == pytest.approx(10 * W_PER_A)


async def test_failsafes_fall_before_shares_rise() -> None:
    """Two members of 32 A on 40 A, idle: 20 A failsafes each. One starts: it gets 32 A, and the
    other's failsafe falls to 8 A first, so that an outage at any moment stays within 40 A."""
    h = Harness(members=2)
    h.layout = Layout.of([replace(GROUP, limit=40)], list(h.layout.members.values()))
    await h.manager.reload()
    await h.manager.reallocate()
    assert h.manager.failsafe_w == {("CP0", 0): pytest.approx(20 * W_PER_A), ("CP1", 0): pytest.approx(20 * W_PER_A)}
    h.manager.started("CP0", 1, 1)
    h.sent.clear()
    await h.manager.reallocate()
    amps = [(cp, tx, round(w / W_PER_A, 2)) for cp, tx, w in h.sent]
    assert amps.index(("CP1", None, 8)) < amps.index(("CP0", 1, 32))
    assert ("CP0", None, 32) in amps  # its failsafe is its share: an outage keeps it charging


async def test_a_reconnected_charge_points_fall_goes_before_the_others_rise() -> None:
    """What a reconnected charge point was sent may still hold: its lower share is a fall, sent
    first, and when it is refused the rise under the same group waits."""
    h = Harness(members=2)
    h.layout = Layout.of([replace(GROUP, limit=40)], list(h.layout.members.values()))
    await h.manager.reload()
    h.manager.started("CP0", 1, 1)
    await h.manager.reallocate()
    assert h.shares() == {"CP0": 32}
    h.manager.connected("CP0")
    h.answers["CP0"] = REFUSED  # it rejects its cut to 20 A
    h.manager.started("CP1", 1, 2)
    h.sent.clear()
    await h.manager.reallocate()
    assert ("CP0", 1, pytest.approx(20 * W_PER_A)) in h.sent
    assert [w for cp, tx, w in h.sent if cp == "CP1" and tx] == []  # CP1 stays at its 8 A failsafe


async def test_a_failure_holds_back_only_the_rises_under_the_same_groups() -> None:
    one, two = replace(GROUP, id=1, limit=40), replace(GROUP, id=2, name="other", limit=40)
    h = Harness(members=0)
    h.layout = Layout.of([one, two], [MemberSpec(0, 1, "charge_point", "A0", 0, 32),
                                      MemberSpec(1, 1, "charge_point", "A1", 0, 32),
                                      MemberSpec(2, 2, "charge_point", "B0", 0, 32)])
    await h.manager.reload()
    h.manager.started("A0", 1, 1)
    await h.manager.reallocate()
    h.answers["A0"] = FAILED  # A0 goes silent as A1 starts: A0's fall does not land
    h.manager.started("A1", 1, 2)
    h.manager.started("B0", 1, 3)
    h.sent.clear()
    await h.manager.reallocate()
    assert ("B0", 3, pytest.approx(32 * W_PER_A)) in h.sent  # the other group is not held back
    assert [w for cp, tx, w in h.sent if cp == "A1" and tx] == []


async def test_a_share_lapses_where_a_lower_window_begins() -> None:
    start = (datetime.now(UTC) + timedelta(minutes=3)).replace(second=0, microsecond=0)  # windows: minutes
    windowed = replace(GROUP, windows=((start.time(), (start + timedelta(hours=1)).time(), 60.0),))
    h = Harness(members=1)
    h.layout = Layout.of([windowed], list(h.layout.members.values()))
    await h.manager.reload()
    h.manager.started("CP0", 1, 1)
    await h.manager.reallocate()
    live = h.manager.sessions["CP0/1"]
    # not the 300 s lease: in an outage the share would outlive the lower limit
    assert live.lease_s == pytest.approx((start - datetime.now(UTC)).total_seconds(), abs=2)
    assert live.renew_at == pytest.approx(h.now + live.lease_s)  # renewed once the window began


async def test_failsafes_held_before_a_restart_count_until_the_member_connects() -> None:
    h = Harness(members=2)
    h.layout = Layout.of([replace(GROUP, limit=40)], list(h.layout.members.values()))
    h.layout.failsafes = {("CP1", 0): 20 * W_PER_A}
    h.answers["CP1"] = FAILED  # not connected yet: it holds its 20 A
    await h.manager.reload()
    h.manager.started("CP0", 1, 1)
    await h.manager.reallocate()
    await h.manager.reallocate()
    assert h.manager.last.limits["CP0/1"] == pytest.approx(20 * W_PER_A)  # 40 A less CP1's 20 A


async def test_an_unreachable_member_is_counted_at_what_it_may_hold() -> None:
    """Seen before but its failsafe not known: its rating. Never connected (not installed yet):
    nothing. An unreachable session's share counts while its lease may run, then its failsafe."""
    for seen, amps in ((True, 8), (False, 32)):
        h = Harness(members=2)
        h.layout = Layout.of([replace(GROUP, limit=40)], list(h.layout.members.values()))
        h.layout.connectors = {"CP1": 1} if seen else {}  # it reported a connector once
        h.answers["CP1"] = FAILED
        await h.manager.reload()
        h.manager.started("CP0", 1, 1)
        await h.manager.reallocate()
        await h.manager.reallocate()
        assert h.manager.last.limits["CP0/1"] == pytest.approx(amps * W_PER_A), seen
    h = Harness(members=2)
    h.layout = Layout.of([replace(GROUP, limit=40)], list(h.layout.members.values()))
    h.layout.connectors = {"CP0": 2, "CP1": 1}  # CP0's failsafe holds for its idle connector too: 0
    await h.manager.reload()
    h.manager.started("CP0", 1, 1)
    await h.manager.reallocate()
    assert h.manager.failsafe_w[("CP0", 0)] == 0 and h.shares() == {"CP0": 32}
    h.answers["CP0"] = FAILED  # gone, holding 32 A until its lease ends
    h.manager.started("CP1", 1, 2)
    await h.manager.reallocate()
    await h.manager.reallocate()
    assert h.manager.last.limits == {"CP0/1": pytest.approx(32 * W_PER_A), "CP1/1": pytest.approx(8 * W_PER_A)}
    h.now += 300 + CLOCK_SKEW_S + 1  # its lease ran out (on any clock): at its failsafe, 0
    await h.manager.reallocate()  # (tried again: still away)
    await h.manager.reallocate()
    assert h.manager.last.limits["CP1/1"] == pytest.approx(32 * W_PER_A)
