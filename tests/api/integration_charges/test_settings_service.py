"""The integration's settings as the central system keeps them, without HTTP: its own table,
written through the store writer."""

from __future__ import annotations

from chargebay.stack import Stack
from csms.integration import IntegrationService, Settings


async def test_settings_default_then_round_trip(stack: Stack) -> None:
    service = IntegrationService(stack.central)
    assert await service.settings() == Settings(enabled=True, allowed_ips=[])
    await service.save_settings(Settings(enabled=False, allowed_ips=["10.0.0.0/8"]))
    assert await service.settings() == Settings(enabled=False, allowed_ips=["10.0.0.0/8"])
    await service.save_settings(Settings())  # the one row is updated, not added to
    assert await IntegrationService(stack.central).settings() == Settings()
