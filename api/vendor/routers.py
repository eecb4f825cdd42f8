"""Every vendor router, in the order the app includes them (the OpenAPI document lists paths in
this order, and a path two routers could match goes to the first)."""

from __future__ import annotations

from fastapi import APIRouter

from api.vendor import cabins, charger_batches, chargers, integration, locker_command
from api.vendor.gateway import bank_types, system, transactions
from api.vendor.gateway import locker_types as gateway_locker_types
from api.vendor.gateway import lockers as gateway_lockers
from api.vendor.smart_locks import access, events, groups, unlock
from api.vendor.smart_locks import locks as smart_locks
from api.vendor.web import auth, banks, bays, devices, lockers, logs, places, users
from api.vendor.web import locker_types as web_locker_types

ROUTERS: list[APIRouter] = [
    integration.router,
    chargers.router,
    charger_batches.router,
    locker_command.router,
    cabins.router,
    # the back office (seed 000)
    devices.router,
    bays.router,
    lockers.router,
    web_locker_types.router,
    banks.router,
    logs.router,
    users.router,
    places.router,
    auth.router,
    # the locker gateway (seed 004)
    system.admin,
    transactions.router,
    gateway_lockers.router,
    gateway_locker_types.router,
    bank_types.router,
    system.router,
    # the smart-lock API (seed 003)
    smart_locks.router,
    unlock.router,
    access.router,
    events.router,
    groups.router,
]
