"""Fixtures of the compliance suite's TLS cases: the keys and certificates made in the test
(:func:`tests.compliance.secure.make_pki`) and a central system serving wss:// with them, its
own CA signing CSRs and vouching for client certificates (security profiles 2 and 3)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chargebay.stack import Stack, running
from tests.compliance.secure import Pki, make_pki
from tests.conftest import make_settings


@pytest.fixture
def octt_pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture
async def secure_stack(db_url: str, octt_pki: Pki, tmp_path: Path) -> AsyncIterator[Stack]:
    settings = make_settings(db_url, data_dir=tmp_path / "data", **octt_pki.settings)
    async with running(settings, migrate=False) as stack:
        yield stack
