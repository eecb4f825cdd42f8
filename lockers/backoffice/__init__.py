"""The back office's services (seed 000 "Web"): users, groups, roles, shifts, places, devices,
banks, lockers, bays, locker types, the audit log and the logins.

Each module holds the queries and writes of one kind of record and answers pydantic-ready dicts;
the REST routes of :mod:`api.vendor.web` validate, call one of these and shape the answer. They
refuse with :mod:`lockers.errors` (never HTTP), and every change is audited in its own
transaction (the generic pattern: :mod:`lockers.records`).
"""
