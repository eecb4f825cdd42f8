"""The operator dashboard: server-rendered page shells whose own scripts call the REST API."""
