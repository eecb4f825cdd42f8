"""Bridge restart benchmark: how soon after a restart a bay with a transaction from before is
itself again, on one RS-485 bus of emulated boards at 9600 baud. One command.

A bridge that restarts holds, in its state file, a transaction on the last bay of the last
board; the outlet went off while it was down. Until that bay has been read and its transaction
reconciled (here: stopped, reason Reboot), it cannot report a true status nor take a new start.
Measured from the bridge's start (the boards already up, a real CSMS on a websocket): when that
bay's transaction ends (its StopTransaction is stored by the CSMS), and, as the reference in the
same run, when the bridge's first read of every bay of every board is done — which is when a
bridge that reconciles board by board (as this one did before issue #13 item 4) could have
ended it at the earliest. Reported per board count (default 4 and 8 boards of 12 bays), with a
clean line and with one reply in five lost (each costs the bus its reply timeout): the time to
the stop, the time to the full read and their ratio (below 1: the bay came back before the
bus was read through).

    python bench/bridge_restart.py [--boards 4 8] [--bays 12] [--rounds 3] [--output FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from chargebay.stack import running  # noqa: E402
from common.durable import DurableQueue  # noqa: E402
from common.settings import Settings  # noqa: E402
from locker_bridge.bay import Tx  # noqa: E402
from locker_bridge.config import load  # noqa: E402
from locker_bridge.emulator import Emulator, Fault  # noqa: E402
from locker_bridge.service import BridgeService  # noqa: E402
from locker_bridge.store import BridgeStore  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "bridge_restart.json"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def config(tmp: Path, boards: int, bays: int, link: Path) -> Path:
    lockers = "\n".join(f"  - {{name: {LETTERS[b]}, port: COM2, address: {b + 1}, bays: {bays}}}"
                        for b in range(boards))
    path = tmp / "bays.yaml"
    path.write_text(f"csms_url: ws://127.0.0.1:9/ocpp\nports:\n  COM2: {{device: {link}, "
                    f"baudrate: 9600}}\nlockers:\n{lockers}\npoll_interval: 60\nmeter_interval: 0\n"
                    f"outbox: {tmp / 'state.db'}\n")
    return path


def seed_state(tmp: Path, identity: str) -> None:
    """The state a bridge leaves when it stops mid-transaction on ``identity``."""
    queue = DurableQueue(tmp / "state.db")
    BridgeStore(queue)
    queue.read_sync(*DurableQueue.state_statement(
        identity, "tx", Tx(7, "TAG", 100, "2026-12-01T10:00:00Z").to_json()))
    queue.close()


async def one_round(tmp: Path, boards: int, bays: int, lossy: bool) -> dict[str, float]:
    link = tmp / "ttyCOM2"
    identity = f"{LETTERS[boards - 1]}-{bays:02d}"
    seed_state(tmp, identity)
    settings = Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp / 'csms.db'}",  # type: ignore[call-arg]
                        data_dir=tmp, ws_port=0, http_port=0, log_level="WARNING",
                        api_token="bench-bridge-restart-token-0123456789")
    async with Emulator.on_pty(boards=boards, bays=bays, link=link, line_timing=True,
                               door_close_after=None) as emu:
        if lossy:  # one reply in five lost: CHARGING_STATUS of every fifth bay, once each
            for board in range(1, boards + 1):
                for bay in range(1, bays + 1, 5):
                    emu.inject(Fault.NO_REPLY, times=1, address=board, bay=bay,
                               command="CHARGING_STATUS")
        async with running(settings) as stack:
            bridge = BridgeService(load(config(tmp, boards, bays, link)),
                                   csms_url=stack.ws_url, data_dir=tmp)
            started = time.monotonic()
            await bridge.start()
            stopped_at: float | None = None
            ready = asyncio.ensure_future(bridge.ready())
            read_at: float | None = None
            try:
                while stopped_at is None or read_at is None:
                    if read_at is None and ready.done():
                        read_at = time.monotonic() - started
                    if stopped_at is None:
                        async with stack.central.engine.connect() as conn:
                            found = (await conn.execute(text(
                                "SELECT 1 FROM stop_records WHERE charge_point_id = :cp"),
                                {"cp": identity})).first()
                        if found is not None:
                            stopped_at = time.monotonic() - started
                    if time.monotonic() - started > 120:
                        raise RuntimeError("the restored transaction never ended")
                    await asyncio.sleep(0.005)
            finally:
                ready.cancel()
                await bridge.close()
    return {"stop_s": stopped_at, "full_read_s": read_at}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"config": {"bays": args.bays, "rounds": args.rounds}, "rows": []}
    for boards in args.boards:
        for lossy in (False, True):
            rounds = []
            for n in range(args.rounds):
                with tempfile.TemporaryDirectory(prefix="bench-restart-") as tmp:
                    rounds.append(await one_round(Path(tmp), boards, args.bays, lossy))
                print(f"  {boards} boards{' lossy' if lossy else ''}: round {n + 1}/{args.rounds}",
                      file=sys.stderr)
            stop = statistics.median(r["stop_s"] for r in rounds)
            read = statistics.median(r["full_read_s"] for r in rounds)
            results["rows"].append({"boards": boards, "bays": boards * args.bays,
                                    "lost_replies": lossy, "stop_s": stop, "full_read_s": read,
                                    "ratio": stop / read})
    return results


def render(results: dict[str, Any]) -> str:
    lines = ["bridge restart: a restored transaction on the last bay of the last board "
             f"(median of {results['config']['rounds']})",
             f"{'boards':>6} {'bays':>5} {'lost replies':>12} {'its stop':>9} "
             f"{'full first read':>15} {'ratio':>6}"]
    for r in results["rows"]:
        lines.append(f"{r['boards']:>6} {r['bays']:>5} {'1 in 5' if r['lost_replies'] else 'none':>12} "
                     f"{r['stop_s']:>8.2f}s {r['full_read_s']:>14.2f}s {r['ratio']:>6.2f}")
    lines.append("ratio: the restored bay's stop over the full first read of the bus (the earliest "
                 "a board-by-board reconcile could end it); below 1 is better")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--boards", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--bays", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    results = asyncio.run(run(args))
    print(render(results))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
