"""Charger definitions (durable) and their runtimes: what the REST API drives.

A definition records the desired state; on start-up :meth:`SimService.resume` brings back every
runtime that was running, so a restart of the stack does not lose the simulated network.

A definition's ``csms_url`` is where the server itself opens a websocket, so it is checked when
it is created or changed (a loopback, private or metadata address is refused unless
``CHARGEBAY_OUTBOUND_ALLOW`` names it; this stack's own OCPP URL is always allowed), and the
station checks it again each time it connects (:mod:`common.outbound`).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from charger_sim.models import SimCharger
from charger_sim.runtime import Provider
from charger_sim.template import load_template
from common.outbound import WEBSOCKET_SCHEMES, OutboundPolicy

_T = cast(Table, SimCharger.__table__)  # typed as a FromClause, which has no insert


class ChargerNotFound(LookupError):
    pass


class ChargerExists(ValueError):
    pass


def _now() -> datetime:
    return datetime.now(UTC)


def _view(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    data["overrides"] = json.loads(data["overrides"] or "{}")
    for key in ("created_at", "updated_at"):
        value = data[key]
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        data[key] = value.isoformat().replace("+00:00", "Z")
    return data


class SimService:
    def __init__(self, engine: AsyncEngine, provider: Provider, default_csms_url: str,
                 outbound_allow: str = "") -> None:
        self.engine = engine
        self.provider = provider
        self.default_csms_url = default_csms_url
        # the stack's own CSMS is always reachable, whatever the allow-list says
        self.outbound = OutboundPolicy(outbound_allow, trusted=[default_csms_url])

    async def check_csms_url(self, csms_url: str | None) -> None:
        """Raise :class:`common.outbound.OutboundRefused` for a URL a station may not connect to."""
        if csms_url:
            await self.outbound.check(csms_url, WEBSOCKET_SCHEMES, "csms_url")

    async def list(self, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        async with self.engine.connect() as conn:
            total = (await conn.execute(select(func.count()).select_from(_T))).scalar_one()
            rows = (await conn.execute(select(_T).order_by(_T.c.identity).offset(offset).limit(limit))).all()
        return [_view(r) for r in rows], total

    async def get(self, charger_id: str) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(_T).where(_T.c.id == charger_id))).first()
        if row is None:
            raise ChargerNotFound(charger_id)
        return _view(row)

    async def by_identity(self, identity: str) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(_T).where(_T.c.identity == identity))).first()
        if row is None:
            raise ChargerNotFound(identity)
        return _view(row)

    async def create(self, identity: str, template: str = "ac-wallbox", csms_url: str | None = None,
                     overrides: dict[str, Any] | None = None, atg: bool = False,
                     ocpp_version: str = "OCPP1.6") -> dict[str, Any]:
        load_template(template, overrides)  # fails early on a bad template or override
        await self.check_csms_url(csms_url)
        now = _now()
        charger_id = str(uuid.uuid4())
        try:
            async with self.engine.begin() as conn:
                await conn.execute(_T.insert().values(
                    id=charger_id, identity=identity, ocpp_version=ocpp_version,
                    csms_url=csms_url, template=template,
                    overrides=json.dumps(overrides or {}), desired_state="stopped", atg=atg,
                    created_at=now, updated_at=now))
        except IntegrityError:
            raise ChargerExists(identity) from None
        return await self.get(charger_id)

    async def update(self, charger_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        current = await self.get(charger_id)
        if "overrides" in changes:
            changes["overrides"] = json.dumps(changes["overrides"] or {})
        merged_template = changes.get("template", current["template"])
        merged_overrides = json.loads(changes.get("overrides", json.dumps(current["overrides"])))
        load_template(merged_template, merged_overrides)
        await self.check_csms_url(changes.get("csms_url"))
        async with self.engine.begin() as conn:
            await conn.execute(update(_T).where(_T.c.id == charger_id).values(**changes, updated_at=_now()))
        updated = await self.get(charger_id)
        if updated["desired_state"] == "running":  # apply the new definition
            await self.provider.stop_station(updated["identity"])
            await self.provider.run_station(self._spec(updated))
        return updated

    async def delete(self, charger_id: str) -> None:
        charger = await self.get(charger_id)
        await self.provider.stop_station(charger["identity"])
        async with self.engine.begin() as conn:
            await conn.execute(delete(_T).where(_T.c.id == charger_id))

    def _spec(self, charger: dict[str, Any]) -> dict[str, Any]:
        version = "2.0.1" if charger.get("ocpp_version") == "OCPP2.0.1" else "1.6"
        return {"identity": charger["identity"], "template": charger["template"],
                "overrides": {**charger["overrides"], "ocpp_version": version},
                "csms_url": charger["csms_url"] or self.default_csms_url, "atg": charger["atg"],
                "outbound": self.outbound}  # checked again at every connect

    async def _desire(self, charger_id: str, state: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(_T).where(_T.c.id == charger_id).values(
                desired_state=state, updated_at=_now()))

    async def start(self, charger_id: str) -> dict[str, Any]:
        charger = await self.get(charger_id)
        await self._desire(charger_id, "running")
        return await self.provider.run_station(self._spec(charger))

    async def stop(self, charger_id: str) -> bool:
        charger = await self.get(charger_id)
        await self._desire(charger_id, "stopped")
        return await self.provider.stop_station(charger["identity"])

    async def restart(self, charger_id: str) -> dict[str, Any]:
        charger = await self.get(charger_id)
        await self.provider.stop_station(charger["identity"])
        await self._desire(charger_id, "running")
        return await self.provider.run_station(self._spec(charger))

    async def provisioning(self, charger_id: str) -> dict[str, Any]:
        charger = await self.get(charger_id)
        runtime = await self.provider.snapshot(charger["identity"])
        running = bool(runtime and runtime.get("running"))
        if charger["desired_state"] == "running":
            status = ("CONNECTED" if runtime and runtime["booted"] else "PROVISIONING") if running else "PENDING"
        else:
            status = "STOPPED" if runtime else "PROVISIONED"
        return {"id": charger_id, "identity": charger["identity"], "status": status,
                "desired_state": charger["desired_state"], "runtime": runtime}

    async def resume(self) -> int:
        """Start every runtime whose desired state is running (after a restart)."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(_T).where(_T.c.desired_state == "running"))).all()
        for row in rows:
            await self.provider.run_station(self._spec(_view(row)))
        return len(rows)
