"""What a new operator needs once the stack is up, printed after the start-up logs have settled
(issue #21): where the dashboard, the API docs and the OCPP endpoint are, which database this is,
and how to log in — the generated admin token on the first start (shown only then), on any later
start the command that mints a new one. A token printed once mid-log scrolled away."""

from __future__ import annotations

import asyncio
import logging
import shutil
import sys
import time
from pathlib import Path

from sqlalchemy.engine import make_url


class _LastRecord(logging.Handler):
    """Notes when the last log record came, nothing else."""

    def __init__(self) -> None:
        super().__init__()
        self.at = time.monotonic()

    def emit(self, record: logging.LogRecord) -> None:
        self.at = time.monotonic()


async def when_quiet(quiet_s: float = 1.0, at_most: float = 15.0) -> None:
    """Return once nothing has been logged for ``quiet_s`` (at most ``at_most`` from now): the
    banner goes after the start-up lines (a demo locker's bays booting), not among them."""
    last = _LastRecord()
    root = logging.getLogger()
    root.addHandler(last)
    try:
        deadline = time.monotonic() + at_most
        while (now := time.monotonic()) < deadline and now - last.at < quiet_s:
            await asyncio.sleep(0.1)
    finally:
        root.removeHandler(last)


def cli_command() -> str:
    """How to type this program's command: ``chargebay`` when the shell finds this very one, else
    its absolute path (``make run`` leaves it in ``.venv/bin``, on no one's PATH; and a second
    terminal opens elsewhere than the checkout, so not ``.venv/bin/chargebay`` either)."""
    here = Path(sys.executable).parent / "chargebay"
    found = shutil.which("chargebay")
    if found is not None and Path(found).resolve() == here.resolve():
        return "chargebay"
    return str(here.absolute())


def shown_database(url: str) -> str:
    """The database URL without its password (it goes to a terminal and to logs)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy parses: the settings refused it before this
        return "<unparsable database URL>"


def banner(*, http_url: str | None, ws_url: str | None, database_url: str, generated_token: str | None,
           token_from_settings: bool, data_dir: Path) -> str:
    lines = ["", "chargebay is up"]
    if http_url:
        lines += [f"  dashboard   {http_url}/", f"  API docs    {http_url}/docs"]
    if ws_url:
        lines.append(f"  OCPP        {ws_url}/{{chargePointId}}")
    lines.append(f"  database    {shown_database(database_url)}")
    if generated_token:
        lines += ["", "No CHARGEBAY_API_TOKEN was set, so an admin token was generated. It is shown only "
                  "this once:", "", f"    {generated_token}", "",
                  "Log in to the dashboard with it, or send it as 'Authorization: Bearer <token>'."]
    elif token_from_settings:
        lines.append("  log in      with CHARGEBAY_API_TOKEN")
    else:
        own = database_url.endswith(str(data_dir / "chargebay.db"))
        setting = (f"CHARGEBAY_DATA_DIR={data_dir}" if own
                   else f"CHARGEBAY_DATABASE_URL='{shown_database(database_url)}' (with its password)")
        lines += ["  log in      with a token; to mint one:",
                  f"              {setting} {cli_command()} token create --role admin --name me"]
    return "\n".join(lines) + "\n"
