"""Charger definitions (durable) and their runtimes: what the REST API drives.

A definition records the desired state; on start-up :meth:`SimService.resume` brings back every
runtime that was running, so a restart of the stack does not lose the simulated network.

A definition's ``csms_url`` is where the server itself opens a websocket, so it is checked when
it is created or changed (a loopback, private or metadata address is refused unless
``CHARGEBAY_OUTBOUND_ALLOW`` names it; this stack's own OCPP URL is always allowed), and the
station checks it again each time it connects (:mod:`common.outbound`).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from charger_sim.models import SimCharger
from charger_sim.runtime import Provider, SimRuntimeError
from charger_sim.template import load_template
from common.outbound import WEBSOCKET_SCHEMES, OutboundPolicy

_T = cast(Table, SimCharger.__table__)  # typed as a FromClause, which has no insert
Chargers = list[dict[str, Any]]  # definitions as the API shows them (named here: the class has a list())
Ids = list[str]  # charger ids or identities


class ChargerNotFound(LookupError):
    pass


class ChargerExists(ValueError):
    """An identity is taken; ``identities`` names every one of a batch that is."""

    def __init__(self, *identities: str) -> None:
        super().__init__(", ".join(identities))
        self.identities = identities


def _now() -> datetime:
    return datetime.now(UTC)


def _view(row: Any) -> dict[str, Any]:
    return _shape(dict(row._mapping))


def _shape(data: dict[str, Any]) -> dict[str, Any]:
    """A stored row (or the values of one being inserted) as the API shows a definition."""
    data["overrides"] = json.loads(data["overrides"] or "{}")
    for key in ("created_at", "updated_at"):
        value = data[key]
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        data[key] = value.isoformat().replace("+00:00", "Z")
    return data


def runtime_status(desired_state: str, runtime: dict[str, Any] | None) -> str:
    """The vendor's provisioning status: what was asked (desired state) against what runs."""
    running = bool(runtime and runtime.get("running"))
    if desired_state == "running":
        return ("CONNECTED" if runtime and runtime["booted"] else "PROVISIONING") if running else "PENDING"
    return "STOPPED" if runtime else "PROVISIONED"


def _connector_states(runtime: dict[str, Any] | None) -> set[str]:
    """The statuses of a running station's connectors (a stopped one's are no longer true)."""
    if not (runtime and runtime.get("running")):
        return set()
    return {c["status"] for c in runtime["connectors"]}


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

    async def list(self, offset: int, limit: int, q: str | None = None) -> tuple[Chargers, int]:
        """A page of definitions by identity; ``q``: those whose identity holds it, in any case."""
        found = select(_T)
        if q:
            found = found.where(_T.c.identity.icontains(q, autoescape=True))
        async with self.engine.connect() as conn:
            total = (await conn.execute(select(func.count()).select_from(found.subquery()))).scalar_one()
            rows = (await conn.execute(found.order_by(_T.c.identity).offset(offset).limit(limit))).all()
        return [_view(r) for r in rows], total

    async def overview(self, offset: int, limit: int, q: str | None = None, status: str | None = None,
                       connector_status: str | None = None) -> tuple[Chargers, int]:
        """A page of definitions, each with its ``status`` and ``runtime`` (the station's snapshot),
        filtered by those too: what the dashboard shows of many chargers at once, from one read
        of the definitions and one request per simulator worker — never a request per charger
        (54 chargers had cost the page 432 requests in 12 s, issue #21). A filter on the runtime
        reads every definition ``q`` leaves, as only their runtimes can say which match."""
        if status is None and connector_status is None:
            chargers, total = await self.list(offset, limit, q)
            return await self._with_runtime(chargers), total
        chargers, _ = await self.list(0, 1_000_000, q)
        kept = [c for c in await self._with_runtime(chargers)
                if status in (None, c["status"])
                and (connector_status is None or connector_status in _connector_states(c["runtime"]))]
        return kept[offset:offset + limit], len(kept)

    async def _with_runtime(self, chargers: Chargers) -> Chargers:
        runtimes = await self.provider.snapshots([c["identity"] for c in chargers])
        for charger in chargers:
            runtime = charger["runtime"] = runtimes.get(charger["identity"])
            charger["status"] = runtime_status(charger["desired_state"], runtime)
        return chargers

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

    async def create_many(self, identities: Ids, template: str = "ac-wallbox",
                          csms_url: str | None = None, overrides: dict[str, Any] | None = None,
                          atg: bool = False, ocpp_version: str = "OCPP1.6") -> Chargers:
        """Definitions for every identity from one template, all or none: one transaction, so a
        batch that meets a taken identity leaves nothing half made (:class:`ChargerExists`
        names every taken one, so the caller can pick another prefix or first number at once)."""
        load_template(template, overrides)
        await self.check_csms_url(csms_url)
        now = _now()
        rows = [{"id": str(uuid.uuid4()), "identity": identity, "ocpp_version": ocpp_version,
                 "csms_url": csms_url, "template": template, "overrides": json.dumps(overrides or {}),
                 "desired_state": "stopped", "atg": atg, "created_at": now, "updated_at": now}
                for identity in identities]
        try:
            async with self.engine.begin() as conn:
                taken = (await conn.execute(select(_T.c.identity).where(
                    _T.c.identity.in_(identities)).order_by(_T.c.identity))).scalars().all()
                if taken:
                    raise ChargerExists(*taken)
                await conn.execute(_T.insert(), rows)
        except IntegrityError:  # taken meanwhile (or named twice)
            raise ChargerExists(*identities) from None
        return [_shape(row) for row in rows]

    async def start_many(self, chargers: Chargers) -> None:
        """Start these runtimes side by side (their workers take them in parallel), desired
        running in one statement."""
        async with self.engine.begin() as conn:
            await conn.execute(update(_T).where(_T.c.id.in_([c["id"] for c in chargers])).values(
                desired_state="running", updated_at=_now()))
        await asyncio.gather(*(self.provider.run_station(self._spec(c)) for c in chargers))
        for charger in chargers:
            charger["desired_state"] = "running"

    async def set_atg(self, charger_ids: Ids, enabled: bool) -> dict[str, bool]:
        """Switch the automatic transaction generator of these chargers: kept in the definition,
        and applied at once to a running station, without the restart an update would make
        (which would end its sessions). Answers, for each that exists, whether its station
        switched now (false: not running, it reads the definition when it starts)."""
        async with self.engine.begin() as conn:
            await conn.execute(update(_T).where(_T.c.id.in_(charger_ids)).values(atg=enabled, updated_at=_now()))
            rows = (await conn.execute(select(_T.c.id, _T.c.identity, _T.c.desired_state).where(
                _T.c.id.in_(charger_ids)))).all()
        running = [row for row in rows if row.desired_state == "running"]
        applied = await asyncio.gather(*(self._atg_now(row.identity, enabled) for row in running))
        return {**{row.id: False for row in rows}, **{row.id: ok for row, ok in zip(running, applied, strict=True)}}

    async def _atg_now(self, identity: str, enabled: bool) -> bool:
        try:
            await self.provider.control(identity, "atg", {"enabled": enabled})
        except SimRuntimeError:  # meant to run but does not (it failed): its next start reads the definition
            return False
        return True

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
        return {"id": charger_id, "identity": charger["identity"],
                "status": runtime_status(charger["desired_state"], runtime),
                "desired_state": charger["desired_state"], "runtime": runtime}

    async def resume(self) -> int:
        """Start every runtime whose desired state is running (after a restart)."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(_T).where(_T.c.desired_state == "running"))).all()
        for row in rows:
            await self.provider.run_station(self._spec(_view(row)))
        return len(rows)
