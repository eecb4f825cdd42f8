"""The locker gateway of seed 004 ("Harbor Gateway"): rentals (the doc's "transactions"), lockers and
their service state, locker and bank types, device heartbeats.

The doc's paths (at the root of the app) and camelCase shapes, on the one locker domain model.
The routes validate, call a service of :mod:`lockers.gateway` (where every query, write and audit
entry is) and shape its result (:mod:`.shaping`).
Why the rules are what they are:

* An out-of-service locker takes no new transaction but keeps its existing ones, and may still be
  opened for them: a user's belongings must stay reachable while the locker awaits repair.
* Every open goes through :meth:`SiteService.open` (the bridge's bus queue, a read-back, the audit
  log); ``brokenLock`` turns a door sensor that still reads "closed" into a success that says so
  (``sensorIgnored``), the doc's GPIO-expander workaround.
* A bad path, query or body is 400 (the doc's status, not FastAPI's 422), code ``ValidationError``;
  every 4xx carries a stable ``code``.
* A kiosk token sees only its own device's lockers and their transactions (others are 404), and
  of a locker's audit entries only those of no device or its own (not a previous owner's).
* ``GET /admin``, the doc's admin interface, is the operator dashboard: a redirect to its locker
  page, which asks for a login. It is tagged with ``/health`` and is not one of the gateway's API
  calls (no token, none of their error answers).

Extensions to the doc: ``POST /locker-types`` and ``POST /bank-types`` (admin), so that types can
be set up; list endpoints share one page envelope (``items``, ``total``, ``page``, ``pageSize``).
"""
