"""The locker back office: sites, lockers, bays, people, rentals, grants, audit and its OCPP adapter."""
