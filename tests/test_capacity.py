"""MAX_CONCURRENT_CALLS: the call over the limit hears a polite TwiML message, never an error."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.bridge import bridge, voice_params
from tests.fakes.waiting import poll
from tests.test_drain import refused_says


async def test_call_over_the_limit_gets_the_at_capacity_twiml(tmp_path: Path) -> None:
    async with bridge(tmp_path, MAX_CONCURRENT_CALLS="2") as b:
        first = await b.call()
        second = await b.call()
        await b.vl.wait_for_session(2)
        async with httpx.AsyncClient(base_url=b.base) as client:
            ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["reason"] == "at capacity"

        third = await b.post("/twilio/voice", voice_params("CA" + "3" * 32))
        assert "busy" in refused_says(third)
        assert len(b.vl.handshakes) == 2  # no model session was opened for it
        assert not first.closed and not second.closed  # the calls in progress are untouched

        await first.hangup()
        await b.vl.sessions[0].closed.wait()
        services = b.app_state.services
        await poll(lambda: len(services.active) == 1, 5.0, "hung-up call ended", lambda: "")
        async with httpx.AsyncClient(base_url=b.base) as client:
            assert (await client.get("/readyz")).status_code == 200
        fourth = await b.call()  # room again: a full stream, like any call
        await b.vl.wait_for_session(3)
        await fourth.hangup()
        await second.hangup()


async def test_a_webhook_whose_stream_has_not_arrived_holds_a_place(tmp_path: Path) -> None:
    async with bridge(tmp_path, MAX_CONCURRENT_CALLS="1") as b:
        await b.answer("CA" + "1" * 32)  # answered; its stream is on its way
        refused = await b.post("/twilio/voice", voice_params("CA" + "2" * 32))
        assert "busy" in refused_says(refused)
