"""The OCPP 1.6J central system: websocket server, message handlers, outbound commands, store."""
