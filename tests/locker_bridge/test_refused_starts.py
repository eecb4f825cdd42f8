"""Issue #13 item 5: a start for an id tag the central system does not accept is refused as such,
and no outlet switches on for it, whether it comes through the start-a-charge integration or as a
RemoteStartTransaction. Real CSMS, REST API and bridge; the board emulated on a real pty."""

from __future__ import annotations

import asyncio

import httpx

from chargebay.stack import Stack
from locker_bridge.emulator import Emulator
from tests.api.full_cp import bearer, make_token
from tests.helpers import add_id_tag, rows
from tests.locker_bridge.bays import (
    TAG,
    ident,
    last_message_id,
    load,
    messages,
    open_tx,
    transactions,
    vcp,
    wait_status,
)
from tests.locker_bridge.conftest import command


async def test_start_a_charge_refuses_a_tag_the_csms_does_not_accept(stack: Stack, emu: Emulator) -> None:
    bay = emu.boards[1].bays[2]
    await add_id_tag(stack, "TAG-BLOCKED", status="Blocked")
    await add_id_tag(stack, TAG, max_concurrent_tx=1)
    await load(stack, emu, 2)
    await load(stack, emu, 3)
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=30) as client:
        key = bearer(await make_token(client, "integrator", name="billing"))
        for tag, status in (("TAG-UNKNOWN", "Invalid"), ("TAG-BLOCKED", "Blocked")):
            r = await client.post("/integration/charges/start", headers=key,
                                  json={"chargebox": ident(2), "connector": 1, "id_tag": tag})
            assert r.status_code == 409, r.text
            assert (r.json()["code"], r.json()["id_tag_status"]) == ("IdTagRejected", status)
        # the tag already charges elsewhere (one at a time): ConcurrentTx, before anything is sent
        r = await client.post("/integration/charges/start", headers=key,
                              json={"chargebox": ident(3), "connector": 1, "id_tag": TAG})
        assert r.status_code == 200, r.text
        r = await client.post("/integration/charges/start", headers=key,
                              json={"chargebox": ident(2), "connector": 1, "id_tag": TAG})
        assert r.status_code == 409 and r.json()["id_tag_status"] == "ConcurrentTx", r.text
    assert bay.switch_ons == 0 and await transactions(stack, 2) == []
    sent = await rows(stack, "SELECT action FROM commands WHERE charge_point_id = :cp", cp=ident(2))
    assert sent == []  # nothing reached the bay


async def test_a_remote_start_with_a_refused_tag_never_switches_the_outlet_on(
        stack: Stack, emu: Emulator) -> None:
    """A CSMS (or an operator's raw command) sends RemoteStartTransaction with a tag it will
    refuse: the bay authorizes first (AuthorizeRemoteTxRequests, true on a bay) and leaves the
    outlet off; with a good tag it charges."""
    bay = emu.boards[1].bays[1]
    await load(stack, emu, 1)
    mark = await last_message_id(stack)
    answer = await command(stack, ident(1), "RemoteStartTransaction", {"idTag": "TAG-NOBODY"})
    assert answer == {"status": "Accepted"}
    await asyncio.sleep(0.5)
    authorized = await messages(stack, 1, "Authorize", mark)
    assert len(authorized) == 1 and "TAG-NOBODY" in authorized[0]["frame"]
    assert bay.switch_ons == 0 and await messages(stack, 1, "StartTransaction", mark) == []
    await wait_status(stack, 1, "Preparing")
    await add_id_tag(stack, TAG)
    assert await command(stack, ident(1), "RemoteStartTransaction", {"idTag": TAG}) == {
        "status": "Accepted"}
    await open_tx(stack, 1)
    assert bay.outlet_on and bay.switch_ons == 1
    # an operator may switch the check off, as OCPP lets a CSMS do
    assert vcp(stack, 1).settings.change("AuthorizeRemoteTxRequests", "false") == "Accepted"
    assert vcp(stack, 1).settings.change("AuthorizeRemoteTxRequests", "maybe") == "Rejected"
