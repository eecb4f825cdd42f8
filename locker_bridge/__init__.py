"""Locker bridge: serial-driven charging lockers exposed as virtual OCPP 1.6J charge points."""
