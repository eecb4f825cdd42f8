"""Charge-point simulator for QA: simulated OCPP 1.6J stations driven by CLI and REST."""
