"""The ``chargebay`` command line."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from chargebay.ca_cli import ca_app
from common.logs import configure_logging
from common.loop import run as run_loop
from common.settings import Role, Settings, get_settings, warn_of_earlier_state

if TYPE_CHECKING:
    from locker_bridge.config import BridgeConfig

app = typer.Typer(help="chargebay: OCPP 1.6J and 2.0.1 central system, charger simulator and locker bridge.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
app.add_typer(db_app, name="db")
token_app = typer.Typer(help="REST API bearer tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(ca_app, name="ca")


def _settings() -> Settings:
    """The settings, or exit 2 with one line per bad variable (no traceback, and never the value:
    it may be a secret)."""
    from pydantic import ValidationError

    try:
        return get_settings()
    except ValidationError as exc:
        for error in exc.errors():
            name = "CHARGEBAY_" + "_".join(str(part) for part in error["loc"]).upper()
            reason = error.get("ctx", {}).get("error") or error["msg"]
            typer.echo(f"error: {name}: {reason}", err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (CHARGEBAY_HOST).")] = None,
    ws_port: Annotated[int | None, typer.Option(help="OCPP websocket port (CHARGEBAY_WS_PORT).")] = None,
    http_port: Annotated[int | None, typer.Option(help="REST API port (CHARGEBAY_HTTP_PORT).")] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="PEM certificate: serve wss:// (security profile 2).")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key for --tls-cert.")] = None,
    tls_rsa_cert: Annotated[Path | None, typer.Option(help=(
        "A second certificate with an RSA key, beside an ECDSA --tls-cert: both served "
        "(CHARGEBAY_TLS_RSA_CERT)."))] = None,
    tls_rsa_key: Annotated[Path | None, typer.Option(help="PEM private key for --tls-rsa-cert.")] = None,
    tls_client_ca: Annotated[Path | None, typer.Option(help=(
        "PEM CA bundle client certificates must chain to: security profile 3, mutual TLS "
        "(CHARGEBAY_TLS_CLIENT_CA)."))] = None,
    demo: Annotated[bool, typer.Option("--demo", help=(
        "Also run three simulated chargers and a demo locker against this CSMS "
        "(CHARGEBAY_DEMO=0 overrides)."))] = False,
    node_id: Annotated[str | None, typer.Option(help=(
        "This node's name when several share one database (CHARGEBAY_NODE_ID)."))] = None,
    role: Annotated[Role | None, typer.Option(help=(
        "all: websockets and REST; ocpp: websockets only; api: stateless REST only "
        "(CHARGEBAY_ROLE)."))] = None,
    redis_url: Annotated[str | None, typer.Option(help=(
        "Share routing and events with other nodes through Redis (CHARGEBAY_REDIS_URL)."))] = None,
) -> None:
    """Migrate the database, then run the OCPP central system and the REST API in one process."""
    import os

    from chargebay.stack import serve_until_signalled

    overrides = {k: v for k, v in {"host": host, "ws_port": ws_port, "http_port": http_port,
                                   "tls_cert": tls_cert, "tls_key": tls_key,
                                   "tls_rsa_cert": tls_rsa_cert, "tls_rsa_key": tls_rsa_key,
                                   "tls_client_ca": tls_client_ca,
                                   "node_id": node_id, "role": role,
                                   "redis_url": redis_url}.items() if v is not None}
    if demo and "CHARGEBAY_DEMO" not in os.environ:
        overrides["demo"] = True
    settings = _settings().model_copy(update=overrides)
    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise typer.BadParameter("--tls-cert and --tls-key go together")
    if bool(settings.tls_rsa_cert) != bool(settings.tls_rsa_key):
        raise typer.BadParameter("--tls-rsa-cert and --tls-rsa-key go together")
    if settings.tls_rsa_cert and not settings.tls_cert:
        raise typer.BadParameter("--tls-rsa-cert is a second certificate: give --tls-cert too")
    if settings.tls_client_ca and not settings.tls_cert:
        raise typer.BadParameter("--tls-client-ca needs --tls-cert (client certificates need TLS)")
    configure_logging(settings.log_level, settings.log_format.value)
    if settings.bridge_config:
        _bridge_config(settings.bridge_config)  # a bad file stops us before anything starts
    run_loop(serve_until_signalled(settings))


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply the migrations to CHARGEBAY_DATABASE_URL."""
    from chargebay.migrate import upgrade_sync

    settings = _settings()
    configure_logging(settings.log_level, settings.log_format.value)
    upgrade_sync(settings.database_url, revision)
    from chargebay.banner import shown_database

    typer.echo(f"database at {shown_database(settings.database_url)} is at revision {revision}")


SIM_HELP = "\n\n".join((
    "Run simulated OCPP 1.6J and 2.0.1 charge points against any CSMS.",
    "On a terminal it shows a live view; piped to a file or a CI log, a plain progress line every "
    "few seconds. At the end of --duration (or on Ctrl-C or SIGTERM; a second one quits at once) "
    "running transactions are stopped and answered before the stations disconnect, and one table "
    "sums the run up: stations booted, sessions started, sessions the CSMS rejected (by its "
    "reason), transactions stopped. Exit status 1 when no station booted.",
    "Against another CSMS, e.g. SteVe, with the charge points SIM-00001 and SIM-00002, their "
    "password and the id tags TAG-A and TAG-B registered there:",
    "  chargebay sim \\\n"
    "    --csms ws://steve-host:8180/steve/websocket/CentralSystemService/ \\\n"
    "    --count 2 --password their-password \\\n"
    "    --atg --id-tag TAG-A --id-tag TAG-B --duration 300 > sim.log",
    "The --atg drivers present SIM-TAG-1, SIM-TAG-2 and SIM-TAG-3 unless --id-tag or "
    "--id-tags-file (one tag a line) say otherwise: a CSMS that does not know them rejects every "
    "session (Invalid).",
))


@app.command(help=SIM_HELP)
def sim(
    csms: Annotated[str, typer.Option(help="CSMS websocket URL; the identity is appended.")] = "ws://127.0.0.1:9000/ocpp",
    count: Annotated[int, typer.Option(min=1, help="Number of stations.")] = 1,
    template: Annotated[str, typer.Option(help="Shipped template name or a YAML/JSON file.")] = "ac-wallbox",
    prefix: Annotated[str, typer.Option(help="Identities are {prefix}-{n:05d}.")] = "SIM",
    atg: Annotated[bool, typer.Option("--atg", help="Run the automatic transaction generator.")] = False,
    duration: Annotated[float | None, typer.Option(help=(
        "Stop cleanly after this many seconds: running transactions end (StopTransaction Local, "
        "2.0.1 TransactionEvent Ended) and get 10 s to be answered; the rest is sent at the next run."))] = None,
    ramp: Annotated[float, typer.Option(help="New connections per second.")] = 200.0,
    workers: Annotated[int, typer.Option(help="Worker processes (0: one per core).")] = 0,
    seed: Annotated[int | None, typer.Option(help="Seed for reproducible runs.")] = None,
    ocpp_version: Annotated[str | None, typer.Option(
        "--ocpp-version", help="1.6 or 2.0.1 for every station (default: the template's).")] = None,
    mix: Annotated[str | None, typer.Option(help=(
        "A mixed fleet, e.g. 1.6=70,2.0.1=30: that share of the stations speaks each version."))] = None,
    password: Annotated[str | None, typer.Option(help=(
        "The stations' HTTP Basic auth password (security profile 1 or 2), 1.6 and 2.0.1 alike; "
        "default: the template's, if any."))] = None,
    id_tag: Annotated[list[str] | None, typer.Option("--id-tag", metavar="TAG", help=(
        "An id tag the --atg drivers present (repeatable; default SIM-TAG-1..3)."))] = None,
    id_tags_file: Annotated[str | None, typer.Option(metavar="FILE", help=(
        "Id tags for the --atg drivers, one a line (# starts a comment line); with --id-tag, both."))] = None,
    atg_idle: Annotated[str, typer.Option(metavar="MIN-MAX", help=(
        "--atg: seconds a connector stays free before the next driver comes."))] = "5-60",
    atg_session: Annotated[str, typer.Option(metavar="MIN-MAX", help=(
        "--atg: seconds an accepted session lasts."))] = "60-600",
    progress_every: Annotated[float, typer.Option(min=0.5, help=(
        "Seconds between two progress lines when the output is not a terminal."))] = 5.0,
) -> None:
    """`chargebay sim` (its help is SIM_HELP: a worked example needs its own line breaks)."""
    from charger_sim.console import run
    from charger_sim.fleet import FleetOptions, parse_mix, parse_range, read_id_tags
    from charger_sim.template import load_template

    overrides: dict[str, str] = {"ocpp_version": ocpp_version} if ocpp_version else {}
    if password is not None:
        overrides["password"] = password
    try:
        if ocpp_version not in (None, "1.6", "2.0.1"):
            raise ValueError(f"--ocpp-version must be 1.6 or 2.0.1, not {ocpp_version!r}")
        if mix and ocpp_version:
            raise ValueError("--mix and --ocpp-version: give one of them")
        versions = parse_mix(mix) if mix else {}
        load_template(template, overrides)
        atg_settings: dict[str, object] = {"idle": parse_range(atg_idle, "--atg-idle"),
                                           "duration": parse_range(atg_session, "--atg-session")}
        tags = [*(id_tag or []), *(read_id_tags(id_tags_file) if id_tags_file else [])]
        if tags:
            atg_settings["id_tags"] = _id_tags(tags)
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if tags and not atg:
        typer.echo("note: the id tags are for the --atg drivers; without --atg no session starts on "
                   "its own", err=True)
    settings = _settings()
    configure_logging("WARNING", settings.log_format.value)
    totals = run(FleetOptions(csms=csms, count=count, template=template, prefix=prefix, atg=atg,
                              duration=duration, ramp=ramp, workers=workers, seed=seed,
                              state_dir=str(settings.sim_dir), overrides=overrides, mix=versions,
                              atg_settings=atg_settings), progress_every=progress_every)
    if not totals["boot_accepted"]:
        raise typer.Exit(1)


def _id_tags(tags: list[str]) -> list[str]:
    """The tags, each once; ValueError for one longer than OCPP 1.6's idTag (20 characters):
    every session with it would be a CALLERROR, not a test of the CSMS."""
    long = [tag for tag in tags if len(tag) > 20]
    if long:
        raise ValueError(f"id tag {long[0]!r} is longer than 20 characters (OCPP 1.6 idTag)")
    return list(dict.fromkeys(tags))


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="admin, operator, integrator, viewer, or device (a field "
                                           "device's key for its heartbeats: needs --device).")],
    name: Annotated[str | None, typer.Option(help="Who or what the token is for (a device key's "
                                                  "default: device:CODE).")] = None,
    device: Annotated[str | None, typer.Option(help="--role device: the code of the device the key "
                                                    "is bound to; its previous key is revoked.")] = None,
    create: Annotated[bool, typer.Option("--create", help="Make the database if there is none yet "
                                                          "(else that is an error: a token in a new "
                                                          "database is one no running server knows).")] = False,
) -> None:
    """Create a token and print its secret (shown only this once). The database it goes in is
    named on stderr: give the server's CHARGEBAY_DATA_DIR or CHARGEBAY_DATABASE_URL (`make run`:
    CHARGEBAY_DATA_DIR=./var of its checkout); one that is not there yet is an error."""
    from api.auth import ROLES, create_token
    from chargebay.migrate import upgrade
    from common.db import create_engine
    from lockers.backoffice.device_keys import KEY_ROLE, issue_for_code
    from lockers.errors import NotFound

    if role not in ROLES or role == "kiosk":  # kiosk tokens come from a kiosk's login only
        raise typer.BadParameter("role must be admin, operator, integrator, viewer or device",
                                 param_hint="--role")
    if (role == KEY_ROLE) != (device is not None):
        raise typer.BadParameter("--device goes with --role device, and only with it", param_hint="--device")
    if role != KEY_ROLE and not name:
        raise typer.BadParameter("name the token", param_hint="--name")
    settings = _settings()
    _existing_database(settings.database_url, create)

    async def run() -> str:
        await upgrade(settings.database_url)
        engine = create_engine(settings.database_url)
        try:
            if device is not None:
                return str((await issue_for_code(engine, "cli", device, name))["key"])
            return (await create_token(engine, name or "", role))[1]
        finally:
            await engine.dispose()

    try:
        typer.echo(asyncio.run(run()))
    except NotFound as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None


def _existing_database(url: str, create: bool) -> None:
    """Name the database on stderr; exit 1 if it is a SQLite file that is not there yet (a
    command run from another directory would make an empty one silently) unless ``create``."""
    from chargebay.banner import cli_command, shown_database

    typer.echo(f"database: {shown_database(url)}", err=True)
    path = sqlite_file(url)
    if path is not None and not path.exists() and not create:
        here = Path("var/chargebay.db")
        hint = (f"`make run` keeps its database in ./var: CHARGEBAY_DATA_DIR={here.parent.absolute()} "
                f"{cli_command()} token create …" if here.exists() else
                "give the server's CHARGEBAY_DATA_DIR (`make run`: ./var of its checkout) or "
                "CHARGEBAY_DATABASE_URL")
        typer.echo(f"error: there is no database at {path}; {hint}; --create makes a new one", err=True)
        raise typer.Exit(1)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for another database, or an in-memory one)."""
    from sqlalchemy.engine import make_url

    from common.db import is_sqlite

    parsed = make_url(url)
    if not is_sqlite(url) or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


@app.command()
def bridge(
    config: Annotated[Path, typer.Option(help="The bridge's YAML: CSMS URL, ports, lockers, bays.")],
    csms_url: Annotated[str | None, typer.Option(help=(
        "CSMS websocket URL (the bay identity is appended); overrides csms_url of the file."))] = None,
) -> None:
    """Run the locker bridge on its own, at the locker site: every bay a charge point of the CSMS."""
    from locker_bridge.service import serve_until_signalled

    settings = _settings()
    configure_logging(settings.log_level, settings.log_format.value)
    warn_of_earlier_state(settings, logging.getLogger("chargebay"))
    run_loop(serve_until_signalled(_bridge_config(config), csms_url, settings.data_dir))


def _bridge_config(path: Path) -> BridgeConfig:
    """Load the bridge's YAML, or exit 2 with the one-line reason (no traceback)."""
    from locker_bridge.config import ConfigError, load

    try:
        return load(path)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command("emulate-board")
def emulate_board(
    link: Annotated[Path, typer.Option(help="Symlink to create for the emulated serial device.")],
    boards: Annotated[int, typer.Option(min=1, max=31, help="Boards on the bus (addresses 1..B).")] = 1,
    bays: Annotated[int, typer.Option(min=1, max=48, help="Bays per board.")] = 8,
    line_timing: Annotated[bool, typer.Option("--line-timing", help=(
        "Pace replies at the baud rate (10 bits a byte) after a short processing delay."))] = False,
    baudrate: Annotated[int, typer.Option(min=300, help="Baud rate for --line-timing.")] = 9600,
    speed: Annotated[float, typer.Option(min=0.001, help="Simulated seconds per real second.")] = 1.0,
    devices: Annotated[bool, typer.Option("--devices", help=(
        "Start with a phone in odd bays and an e-bike battery in even bays."))] = False,
    fault: Annotated[list[str] | None, typer.Option("--fault", metavar="NAME[:COUNT]", help=(
        "Misbehave on every request, or on the next COUNT; repeatable. NAME: ignore, no_reply, "
        "garbage_before, garbage_inside, garbage_after, bad_checksum, bad_len, bad_eof, "
        "truncated, short_reply, late_reply, echo, wrong_address, wrong_bay, busy, stuck_door, "
        "ack_without_effect."))] = None,
) -> None:
    """Emulate locker controller boards on a pseudo-terminal until Ctrl-C or SIGTERM."""
    from locker_bridge.emulator import parse_fault, run_cli

    try:
        faults = [parse_fault(spec) for spec in fault or []]
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--fault") from None
    run_cli(link, boards, bays, line_timing=line_timing, baudrate=baudrate, speed=speed,
            devices=devices, faults=faults)


if __name__ == "__main__":
    app()
