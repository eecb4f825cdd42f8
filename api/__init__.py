"""The REST API: one FastAPI app over the services of csms, charger_sim and locker_bridge."""
