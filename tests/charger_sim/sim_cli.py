"""`chargebay sim` as a real subprocess, its output piped (as in a CI log) and read line by line
as it comes, each line with the moment it came, so a test can tell output printed during the run
from output printed at its end."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

CLI = Path(sys.executable).parent / "chargebay"


@dataclass
class SimRun:
    """One run of the CLI: start it, signal it, wait for its end."""

    csms: str
    cwd: Path
    args: tuple[str, ...]
    lines: list[tuple[float, str]] = field(default_factory=list)  # (seconds since the start, line)
    code: int | None = None
    ended_at: float = 0.0
    _proc: asyncio.subprocess.Process | None = None
    _reader: asyncio.Task[None] | None = None

    async def start(self) -> SimRun:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGEBAY_")}
        env["COLUMNS"] = "200"  # keep rich from wrapping the table
        env["CHARGEBAY_DATA_DIR"] = str(self.cwd / "data")
        # a session of its own: a test can send a Ctrl-C to the whole group, as a terminal does
        self._proc = await asyncio.create_subprocess_exec(
            str(CLI), "sim", "--csms", self.csms, *self.args, cwd=self.cwd, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True)
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        while line := await self._proc.stdout.readline():
            self.lines.append((loop.time() - t0, line.decode(errors="replace").rstrip("\n")))
        self.ended_at = loop.time() - t0

    def signal(self, sig: signal.Signals, group: bool = False) -> None:
        """``sig`` to the CLI (``group``: to it and its worker processes, as Ctrl-C on a terminal)."""
        assert self._proc is not None
        if group:
            os.killpg(self._proc.pid, sig)
        else:
            self._proc.send_signal(sig)

    async def wait(self, deadline: float) -> SimRun:
        """Wait for the end (its output read to the last line); fail after ``deadline`` s."""
        assert self._proc is not None and self._reader is not None
        try:
            async with asyncio.timeout(deadline):
                await self._reader
                self.code = await self._proc.wait()
        except TimeoutError:
            if self._proc.returncode is None:
                os.killpg(self._proc.pid, signal.SIGKILL)  # the workers too
            await self._proc.wait()
            self._reader.cancel()
            raise AssertionError(f"chargebay sim {' '.join(self.args)} did not end within {deadline} s:\n"
                                 + self.out) from None
        return self

    @property
    def out(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def table(self) -> dict[str, str]:
        return table_of(self.out)


def table_of(out: str) -> dict[str, str]:
    """The final table's rows (figure -> value): ``| figure | value |`` in a piped run."""
    found = [re.match(r"^\| (.+?) +\| (.+?) *\|$", line) for line in out.splitlines()]
    return {m[1]: m[2] for m in found if m}


async def run_sim(csms: str, cwd: Path, *args: str, deadline: float = 60.0) -> SimRun:
    """Run ``chargebay sim --csms CSMS ARGS`` from ``cwd`` to its end."""
    return await (await SimRun(csms, cwd, args).start()).wait(deadline)


def number(value: str) -> int:
    """The first number of a table value (``12 (accepted by the CSMS)`` -> 12)."""
    found = re.match(r"\d[\d,]*", value)
    assert found is not None, value
    return int(found[0].replace(",", ""))


def reasons(value: str) -> dict[str, int]:
    """``14 (ConcurrentTx 7, Invalid 7)`` -> {"ConcurrentTx": 7, "Invalid": 7}."""
    return {name: int(n) for name, n in re.findall(r"([A-Za-z]+) (\d+)", value)}
