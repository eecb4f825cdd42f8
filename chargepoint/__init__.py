"""The one OCPP-J charge-point client: what the simulator's stations and the bridge's bays share.

:class:`chargepoint.client.Client` connects (and reconnects with backoff), boots (Pending and
Rejected answered by waiting), sends heartbeats, offers ``call()`` with its timeout and offline
outcomes, and answers the central system's calls from a :class:`chargepoint.handlers.Handlers`
registry; :mod:`chargepoint.outbox` delivers transaction messages durably. A station or a bay is
a behaviour on top: it fills the registry and says what to boot with. Built on :mod:`ocppj`;
imports nothing of the packages that use it.
"""
