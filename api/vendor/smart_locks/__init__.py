"""The smart-lock API of seed 003 (the "ARAN" Plus Platform's Locks collection), over our lockers.

Why a vendor-shaped API: integrations written for the vendor's platform should work against our
lockers unchanged. So every answer here is the vendor's envelope, ``{"status": 1, "msg": ""}`` on
success and ``{"status": 0, "msg": "<why>", "code": "<StableCode>", "message": "<why>"}`` on
failure — including authentication, permission and validation failures (validation answers HTTP
400, never 422). ``code`` and ``message`` are there as in every other error body of the API.

Mapping (a lock is one locker bay; ``lockid`` is the locker's identity, e.g. ``LOCKER-A-01``):

* ``lockname``: "<bank> bay <n>"; ``searchkey`` matches the identity or that name.
* ``lock_open_status``: 1 when the door is open — from the bridge's live view, else the last door
  state the bridge reported; 0 when closed *or unknown* (``GET …/status`` says which).
* ``lock_online_status``: 1 when the bay's charge point is online (the bridge's view when it
  drives the bay here, else the CSMS's); ``online_updated_date`` is when the CSMS last heard from
  it. All dates are UTC, formatted "YYYY-MM-DD HH:MM:SS" as the vendor does.
* ``lockuserid``: the user the locker is assigned to; ``lock_model``: the locker type's name, or
  "locker-bay"; ``lock_ssid``: the identity.
* Always null, and why (the vendor fills them for its own hardware):

  - ``lock_password``: our lockers have no per-lock secret (a door opens on an OPEN_DOOR its
    bridge sends for an authorised caller), and this API never returns a credential of any kind:
    a lock's secret in a list every viewer reads would open the lock. It stays null by design.
  - ``temperature``: the controller board measures none; its frames carry the door, item and
    outlet sensors only (``docs/locker-protocol.md``). A board family that reports one would
    fill it.
  - ``battery_level``: a bay is mains-powered and its board reports no battery, so there is no
    ``lock.battery_low`` event either.
  - ``mac_address``: a bay sits on a serial bus, with no network interface of its own.
  - ``lock_pic``: no picture of a lock is kept.

Real-time alerts ("when your locks are used"): the lock events of :mod:`lockers.lock_alerts`
(``lock.opened``, ``lock.closed``, ``lock.unlocked`` with who asked, ``lock.forced_open``,
``lock.offline``/``lock.online``) stream on ``GET /api/v1/events`` and go to the webhooks of
``POST /api/v1/webhooks``; each is in the lock's history (``/events``) too.

Unlock for a user: ``POST /api/locks/{lockid}/unlock`` with ``{"userid": N}`` opens only if user N
exists, is active and holds a grant on this lock whose window contains now
(``from <= now < until``; a missing bound is open-ended). Being the locker's assigned user is not
enough on its own. Every check, granted or refused, is written to the audit log
(``lock.access``) before the door is touched. Without a body the caller's own role decides.

A locker door latches by itself when shut: ``…/lock`` sends nothing to the board, it reports
whether the door is closed now.

Roles: reads (locks, status, events) operator/viewer/kiosk; grant and group reads
operator/viewer; lock and unlock operator/kiosk; grants, groups and group unlock operator; admin
always. A kiosk token sees only its own device's lockers: any other lock does not exist (404).
"""
