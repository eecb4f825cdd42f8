"""The OCPP-J core: framing, message ids, per-version schemas and error spellings, without sockets.

The central system, the simulator and the locker bridge all import it; it imports none of them.
"""
