"""``chargebay ca``: the central system's certificate authority, and the certificates that security
profiles 2 and 3 need (a server certificate for wss://, a client certificate per charge point)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


class KeyType(StrEnum):
    """The key of a server certificate."""

    ec = "ec"
    rsa = "rsa"


ca_app = typer.Typer(help="The central system's CA: sign charge point CSRs, issue TLS certificates.",
                     no_args_is_help=True)


def _paths() -> tuple[Path, Path, int]:
    from chargebay.cli import _settings

    settings = _settings()
    assert settings.ca_cert is not None and settings.ca_key is not None  # placed by the settings
    return settings.ca_cert, settings.ca_key, settings.certificate_days


def _ca() -> object:
    from csms.ca import LocalCA

    cert, key, days = _paths()
    if not (cert.exists() and key.exists()):
        typer.echo(f"error: no CA in {cert.parent}: run `chargebay ca init` first", err=True)
        raise typer.Exit(2)
    return LocalCA(cert, key, days)


@ca_app.command("init")
def init(
    name: Annotated[str, typer.Option(help="The CA certificate's subject CN.")] = "chargebay CA",
    days: Annotated[int, typer.Option(min=1, help="Days the CA certificate is valid.")] = 3650,
) -> None:
    """Create the CA key and certificate (CHARGEBAY_CA_CERT / CHARGEBAY_CA_KEY, default in the data
    directory's ca/). Refuses to replace an existing CA: every certificate it issued would die."""
    from csms.ca import init_ca

    cert, key, _ = _paths()
    try:
        made = init_ca(cert, key, name, days)
    except FileExistsError as exc:
        typer.echo(f"error: {exc} exists: a CA is there already. Move it away first if you really "
                   "mean to replace it (the certificates it issued will no longer verify)", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"CA created: {made.subject.rfc4514_string()}, valid until "
               f"{made.not_valid_after_utc:%Y-%m-%d}\n  certificate: {cert}\n  key:         {key} "
               "(mode 600)\nserve signs charge point CSRs with it from its next start (or SIGHUP).")


@ca_app.command("issue-server")
def issue_server(
    out: Annotated[Path, typer.Option(help="Directory for server.pem (chain) and server.key.")],
    host: Annotated[list[str], typer.Option(help="A name or address clients connect to; repeatable.")],
    days: Annotated[int, typer.Option(min=1, help="Days it is valid.")] = 365,
    key_type: Annotated[KeyType, typer.Option(help=(
        "ec: ECDSA P-256 (server.pem, for --tls-cert); rsa: RSA 3072 (server-rsa.pem, for "
        "--tls-rsa-cert beside it, or --tls-cert alone) for charge points with only RSA suites."))] = KeyType.ec,
) -> None:
    """A server certificate for `serve --tls-cert` (security profiles 2 and 3), signed by the CA:
    charge points trust it by the CA's certificate."""
    from csms.ca import LocalCA, write_issued

    ca = _ca()
    assert isinstance(ca, LocalCA)
    key_pem, issued = ca.issue(host[0], server=True, hosts=host, days=days, key_type=key_type.value)
    stem, option = ("server-rsa", "--tls-rsa") if key_type == KeyType.rsa else ("server", "--tls")
    write_issued(key_pem, issued, out / f"{stem}.key", out / f"{stem}.pem")
    typer.echo(f"server certificate ({key_type.value}) for {', '.join(host)} (serial {issued.serial}):\n"
               f"  {option}-cert {out / f'{stem}.pem'} {option}-key {out / f'{stem}.key'}")


@ca_app.command("issue-client")
def issue_client(
    charge_point_id: Annotated[str, typer.Argument(help="The charge point id: the certificate's CN.")],
    out: Annotated[Path, typer.Option(help="Directory for <id>.pem (chain) and <id>.key.")],
    days: Annotated[int, typer.Option(min=1, help="Days it is valid.")] = 365,
) -> None:
    """A client certificate for a charge point at security profile 3 (its CN is the id). Charge
    points that make their own key ask for one with SignCertificate instead."""
    from csms.ca import LocalCA, write_issued

    ca = _ca()
    assert isinstance(ca, LocalCA)
    key_pem, issued = ca.issue(charge_point_id, server=False, days=days)
    write_issued(key_pem, issued, out / f"{charge_point_id}.key", out / f"{charge_point_id}.pem")
    typer.echo(f"client certificate for {charge_point_id} (serial {issued.serial}): "
               f"{out / (charge_point_id + '.pem')}, key {out / (charge_point_id + '.key')}")
