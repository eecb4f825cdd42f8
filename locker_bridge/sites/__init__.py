"""Locker sites: the operators' data model (locations, devices, banks, lockers, users, rentals,
access grants, audit) and the services the back office and the gateways share."""
