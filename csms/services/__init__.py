"""The central system's services: what the REST API (and the CLI) may ask it to do.

Each service owns the writes of one kind of record and keeps the caches that depend on them true
(a charge point's handshake facts, a transaction's window), so no caller has to remember to flush
the writer or forget a cache. Reads live beside them in :mod:`csms.queries`. A service refuses with
a :class:`csms.services.errors.ServiceError`, which the REST layer answers in its own format.
"""
