"""What a new operator needs once the stack is up, printed after the start-up logs have settled
(issue #21): where the dashboard, the API docs and the OCPP endpoint are, which database this is,
and how to log in — the generated admin token on the first start (shown only then), on any later
start the command that mints a new one. A token printed once mid-log scrolled away."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url


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
                  f"              {setting} chargebay token create --role admin --name me"]
    return "\n".join(lines) + "\n"
