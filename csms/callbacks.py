"""A command's callback URL: checked when the command is submitted, and the outcome POSTed to it
when the command ends, to the address checked at that moment.

The second check matters: a name that resolved to a public address when the command was
submitted may resolve to 127.0.0.1 by the time the charge point answers (DNS rebinding), so the
URL is resolved and judged again just before the POST, and the request goes to an address of
that very answer (the ``Host`` header and TLS name stay the URL's own). How the delivery went —
delivered, failed or refused — is recorded on the command and logged; it never raises, because
the command itself has ended either way.

The POST to a checked address (:func:`post_checked`) is the webhooks' too (:mod:`csms.webhooks`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import httpx
import orjson
from sqlalchemy import update

from common.outbound import WEB_SCHEMES, OutboundPolicy, OutboundRefused, Target
from csms.outcomes import Outcome
from csms.store.models import Command, table
from csms.store.writer import Writer

log = logging.getLogger(__name__)
_COMMANDS = table(Command)
FIELD = "callback_url"


class Callbacks:
    """Checks callback URLs and delivers command outcomes to them."""

    def __init__(self, writer: Writer, policy: OutboundPolicy, timeout: float = 10.0) -> None:
        self._writer = writer
        self.policy = policy
        self.timeout = timeout

    async def check(self, url: str) -> None:
        """Raise :class:`OutboundRefused` for a URL the outcome may not be sent to."""
        await self.policy.check(url, WEB_SCHEMES, FIELD)

    async def deliver(self, url: str, command_id: str, charge_point_id: str, action: str,
                      outcome: Outcome) -> str:
        """POST the outcome to ``url``; record and return ``delivered``, ``failed`` or ``refused``."""
        body = {"command_id": command_id, "charge_point_id": charge_point_id, "action": action,
                **outcome.to_dict()}
        try:
            target = await self.policy.check(url, WEB_SCHEMES, FIELD)
            _, error = await post_checked(target, orjson.dumps(body), {}, self.timeout)
            status = "delivered" if error is None else "failed"
        except OutboundRefused as exc:
            status, error = "refused", str(exc)
        except Exception as exc:  # a callback never takes anything down with it
            log.exception("callback %s for command %s: unexpected error", url, command_id)
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        if status != "delivered":
            log.warning("callback %s for command %s %s: %s", url, command_id, status, error)
        stmt = update(_COMMANDS).where(_COMMANDS.c.id == command_id).values(
            callback_status=status, callback_error=error)
        try:
            await self._writer.run(lambda c: c.execute(stmt))
        except RuntimeError:  # the store closed meanwhile (shutting down): the log has it
            log.warning("callback for command %s %s, not recorded: the store is closed",
                        command_id, status)
        return status



async def post_checked(target: Target, content: bytes, headers: Mapping[str, str],
                       timeout: float) -> tuple[int | None, str | None]:
    """POST ``content`` (JSON) to a URL :meth:`OutboundPolicy.check` just judged, at one of the
    addresses of that very check (the next on no connection; the URL's own ``Host`` and TLS name
    kept), no redirect followed: (the receiver's HTTP status or None, why it failed or None)."""
    url = httpx.URL(target.url)
    sent = {"Content-Type": "application/json", **headers, "Host": url.netloc.decode("ascii")}
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    addresses: tuple[str | None, ...] = target.addresses or (None,)  # none: a trusted URL, as it is
    failures: list[str] = []
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
        for address in addresses:  # in the resolver's order, the next on no connection
            try:
                response = await client.post(url if address is None else url.copy_with(host=address),
                                             content=content, headers=sent, extensions=extensions)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failures.append(f"{address or target.host}: {exc}")
                continue
            except httpx.HTTPError as exc:
                return None, f"{type(exc).__name__}: {exc}"
            if response.is_success:
                return response.status_code, None
            return response.status_code, f"the receiver answered HTTP {response.status_code}"
    return None, "no connection: " + "; ".join(failures)
