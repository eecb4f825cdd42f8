"""Load management benchmark: reallocation time and messages sent for a 1,000-member load group.

The allocator at work (``csms.energy.manager.LoadManager`` with the real allocator, failsafe and
SetChargingProfile payloads, encoded as they would go on the wire), with charge points that accept
every profile at once: what is measured is the central system's side of a reallocation, not a
network. Scenarios, in order, on one group (a 100 A x 3 feeder per 10 members, members 32 A):

1. every member starts a session (the first allocation: failsafes and shares),
2. one session stops (its share is handed on),
3. 100 EVs draw clearly less than given (the unused share goes to the others),
4. nothing changed (a lease-free round: nothing to send),
5. the group's limit is lowered by a third (every share falls).

The reference, measured in the same run: the messages a naive allocator would send (every
member's profile on every change) against ours (only shares that moved), and the time of the
round against the bare ``allocate()`` call inside it.

    python bench/load_groups.py [--members 1000] [--output bench/results/load_groups.json]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
from csms_load import _row, publish

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from csms.energy.allocator import Allocation, allocate  # noqa: E402
from csms.energy.config import GroupSpec, MemberSpec  # noqa: E402
from csms.energy.manager import SENT, LoadManager  # noqa: E402
from csms.energy.profiles import default_profile_16, tx_profile_16  # noqa: E402
from csms.energy.state import Layout, Live, build, limits_at  # noqa: E402
from csms.timeutil import now_utc  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "load_groups.json"


class Bench:
    def __init__(self, members: int) -> None:
        self.group = GroupSpec(id=1, name="site", limit=10.0 * members, unit="A", phases=3, min_per_session=6)
        self.layout = Layout.of([self.group], [MemberSpec(i, 1, "charge_point", f"CP-{i:05d}", 0, 32)
                                               for i in range(members)])
        self.messages = 0
        self.bytes = 0
        self.now = 0.0
        self.manager = LoadManager(self.read_layout, self.read_open, self.send, self.record,
                                   period=1.0, lease=300.0, clock=lambda: self.now)

    async def read_layout(self) -> Layout:
        return self.layout

    async def read_open(self, charge_points: set[str]) -> list[Live]:
        return []

    async def send(self, live: Live | None, member: MemberSpec, watts: float) -> str:
        amps = self.group.from_watts(watts)
        valid_to = now_utc()
        payload = (default_profile_16(member.connector_id, amps, "A", 3) if live is None
                   else tx_profile_16(live.connector_id, live.transaction_id, amps, "A", 3, valid_to))
        self.bytes += len(orjson.dumps([2, "x", "SetChargingProfile", payload]))
        self.messages += 1
        return SENT

    def record(self, allocation: Allocation, layout: Layout) -> None:
        pass

    async def round(self, name: str, naive: int) -> dict[str, Any]:
        """One reallocation; its time, the bare allocate() time, the messages sent."""
        self.now += 2.0  # readings since the last round count (csms.energy.manager.SETTLE_S)
        before, sent_bytes = self.messages, self.bytes
        started = time.perf_counter()
        await self.manager.reallocate()
        took = time.perf_counter() - started
        groups, sessions = build(self.layout, self.manager.sessions.values(), limits_at(self.layout, now_utc()))
        bare = min(_timed(lambda: allocate(groups, sessions)) for _ in range(3))
        sent = self.messages - before
        return {"scenario": name, "round_ms": round(took * 1000, 2), "allocate_ms": round(bare * 1000, 2),
                "messages": sent, "bytes": self.bytes - sent_bytes, "naive_messages": naive,
                "messages_saved": round(naive / sent, 1) if sent else None}


def _timed(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


async def run(members: int) -> dict[str, Any]:
    b = Bench(members)
    await b.manager.reload()
    m = b.manager
    rows = []
    for i in range(members):
        m.started(f"CP-{i:05d}", 1, i + 1)
    rows.append(await b.round(f"{members} sessions start", 2 * members))
    for live in m.sessions.values():  # every EV draws what it was given
        m.metered(live.charge_point_id, live.connector_id, live.sent_w or 0.0)
    m.ended("CP-00000", 1)
    rows.append(await b.round("one session stops", members - 1))
    for live in list(m.sessions.values())[:100]:
        m.metered(live.charge_point_id, live.connector_id, (live.sent_w or 0.0) * 0.5)
    rows.append(await b.round("100 EVs draw half their share", members - 1))
    rows.append(await b.round("nothing changed", members - 1))
    b.group = replace(b.group, limit=b.group.limit * 2 / 3)
    b.layout = Layout.of([b.group], b.layout.members.values())
    await m.reload()
    rows.append(await b.round("the limit falls by a third", 2 * (members - 1)))
    m.started("CP-00000", 1, members + 1)  # into a full group: every share falls a little
    rows.append(await b.round("one more starts, the group full", 2 * members))
    total = sum(r["messages"] for r in rows)
    naive = sum(r["naive_messages"] for r in rows)
    return {"members": members, "scenarios": rows, "messages": total, "naive_messages": naive,
            "ratio_messages_naive_vs_ours": round(naive / total, 2) if total else None,
            "median_round_ms": statistics.median(r["round_ms"] for r in rows)}


def render(results: dict[str, Any]) -> Iterator[str]:
    widths = [34, 10, 13, 10, 10, 8]
    yield f"load group of {results['members']} members (charge points of 32 A, 10 A a member on the feeder)"
    yield _row(["scenario", "round ms", "allocate ms", "messages", "bytes", "naive"], widths)
    for r in results["scenarios"]:
        yield _row([r[k] for k in ("scenario", "round_ms", "allocate_ms", "messages", "bytes", "naive_messages")],
                   widths)
    yield (f"messages: {results['messages']} sent, a naive allocator {results['naive_messages']} "
           f"(ratio {results['ratio_messages_naive_vs_ours']}); median round {results['median_round_ms']} ms")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"default {RESULTS}")
    args = parser.parse_args(argv)
    return publish(asyncio.run(run(args.members)), args.output, render)


if __name__ == "__main__":
    main()
