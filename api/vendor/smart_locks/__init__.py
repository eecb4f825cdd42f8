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
* ``lock_password`` is always null: our lockers have no per-lock secret, and this API never
  returns a credential of any kind. ``battery_level``, ``mac_address``, ``temperature`` and
  ``lock_pic`` are null: a bay has none of them.

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
