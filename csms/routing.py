"""Connection ownership and command routing, behind one interface.

A single process uses :class:`LocalRouter`. Several CSMS nodes sharing a database implement the
same :class:`Router` over a broker (a registry of which node holds which socket, a command channel
per node), so callers — the REST API, stop-a-charge — never know where a charge point is connected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from csms.metrics import CONNECTED
from csms.outcomes import Outcome

if TYPE_CHECKING:
    from csms.connection import Connection


class Router(Protocol):
    def attach(self, conn: Connection) -> Connection | None:
        """Make ``conn`` the charge point's connection; return the one it replaces, if any."""

    def detach(self, conn: Connection) -> bool:
        """Forget ``conn``; True if it was still the charge point's current connection."""

    def local(self, charge_point_id: str) -> Connection | None:
        """The connection held by this process, if any."""

    def local_count(self) -> int: ...

    async def is_online(self, charge_point_id: str) -> bool: ...

    async def send(self, charge_point_id: str, action: str, payload: dict[str, Any],
                   timeout: float) -> Outcome:
        """Deliver a call to wherever the charge point is connected and return its outcome."""

    async def live_nodes(self) -> set[str] | None:
        """The nodes alive in the cluster, or None when this process is the only one."""


class LocalRouter:
    """All sockets live in this process."""

    def __init__(self) -> None:
        self._connections: dict[str, Connection] = {}

    def attach(self, conn: Connection) -> Connection | None:
        old = self._connections.get(conn.charge_point_id)
        self._connections[conn.charge_point_id] = conn
        CONNECTED.set(len(self._connections))
        return old

    def detach(self, conn: Connection) -> bool:
        if self._connections.get(conn.charge_point_id) is not conn:
            return False
        del self._connections[conn.charge_point_id]
        CONNECTED.set(len(self._connections))
        return True

    def local(self, charge_point_id: str) -> Connection | None:
        return self._connections.get(charge_point_id)

    def local_count(self) -> int:
        return len(self._connections)

    def all_local(self) -> list[Connection]:
        return list(self._connections.values())

    async def is_online(self, charge_point_id: str) -> bool:
        return charge_point_id in self._connections

    async def live_nodes(self) -> set[str] | None:
        return None

    async def send(self, charge_point_id: str, action: str, payload: dict[str, Any],
                   timeout: float) -> Outcome:
        conn = self._connections.get(charge_point_id)
        if conn is None:
            return Outcome("offline", description=f"{charge_point_id} is not connected")
        return await conn.call(action, payload, timeout)
