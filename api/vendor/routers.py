"""Every vendor router, in the order the app includes them (the OpenAPI document lists paths in
this order; a path two routers could match goes to the first)."""

from __future__ import annotations

from fastapi import APIRouter

from api.vendor import cabins, chargers, integration
from api.vendor.gateway import bank_types, locker_types, system, transactions
from api.vendor.gateway import lockers as gateway_lockers
from api.vendor.smart_locks import locks as smart_locks
from api.vendor.web import auth, lockers, places, users

ROUTERS: list[APIRouter] = [
    integration.router,
    chargers.router,
    cabins.router,
    lockers.router,
    users.router,
    places.router,
    auth.router,
    system.admin,
    transactions.router,
    gateway_lockers.router,
    locker_types.router,
    bank_types.router,
    system.router,
    smart_locks.router,
]
