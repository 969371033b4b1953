"""MAX_CONCURRENT_CALLS: a full replica stays ready, sends the call back through the ingress
(a sibling may have room), and after that the caller hears a polite TwiML message, never an
error."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit
from xml.etree import ElementTree

import httpx

from tests.fakes.waiting import poll
from tests.http.test_drain import refused_says
from tests.support.bridge import Bridge, bridge, voice_params


async def follow(b: Bridge, response: httpx.Response, params: dict[str, str]) -> httpx.Response:
    """Do what Twilio does with <Redirect>: POST the same call's form to that URL, signed."""
    root = ElementTree.fromstring(response.text)
    assert [child.tag for child in root] == ["Redirect"], response.text
    target = root.findtext("Redirect") or ""
    assert root.find("Redirect").get("method") == "POST"  # type: ignore[union-attr]
    assert target.startswith(b.settings.public_url), target
    parts = urlsplit(target)
    return await b.post(f"{parts.path}?{parts.query}", params)


async def test_call_over_the_limit_is_redirected_then_gets_the_at_capacity_twiml(
    tmp_path: Path,
) -> None:
    async with bridge(tmp_path, MAX_CONCURRENT_CALLS="2") as b:
        first = await b.call()
        second = await b.call()
        await b.vl.wait_for_session(2)
        async with httpx.AsyncClient(base_url=b.base) as client:
            ready = await client.get("/readyz")
        # Full but ready: were every replica unready, the ingress would answer Twilio 503.
        assert ready.status_code == 200 and ready.json()["at_capacity"] is True

        params = voice_params("CA" + "3" * 32)
        answer = await b.post("/twilio/voice", params)
        for _ in range(2):  # back through the ingress twice (a sibling may have room)...
            answer = await follow(b, answer, params)
        assert "busy" in refused_says(answer)  # ...then the polite refusal
        assert len(b.vl.handshakes) == 2  # no model session was opened for it
        assert not first.closed and not second.closed  # the calls in progress are untouched

        await first.hangup()
        await b.vl.sessions[0].closed.wait()
        services = b.app_state.services
        await poll(lambda: len(services.active) == 1, 5.0, "hung-up call ended", lambda: "")
        async with httpx.AsyncClient(base_url=b.base) as client:
            assert (await client.get("/readyz")).json()["at_capacity"] is False
        fourth = await b.call()  # room again: a full stream, like any call
        await b.vl.wait_for_session(3)
        await fourth.hangup()
        await second.hangup()


async def test_a_redirected_call_is_taken_by_a_replica_with_room(tmp_path: Path) -> None:
    public = "https://bot.example.com"  # both replicas behind one ingress
    async with (
        bridge(tmp_path / "a", MAX_CONCURRENT_CALLS="1", PUBLIC_URL=public) as full,
        bridge(tmp_path / "b", MAX_CONCURRENT_CALLS="1", PUBLIC_URL=public) as free,
    ):
        await full.answer("CA" + "1" * 32)  # answered; its stream is on its way
        params = voice_params("CA" + "2" * 32)
        redirected = await full.post("/twilio/voice", params)
        # The ingress sends Twilio's next request to the sibling (same public URL, same token).
        target = ElementTree.fromstring(redirected.text).findtext("Redirect") or ""
        parts = urlsplit(target)
        taken = await free.post(f"{parts.path}?{parts.query}", params)
        assert ElementTree.fromstring(taken.text).find("./Connect/Stream") is not None


async def test_a_webhook_whose_stream_has_not_arrived_holds_a_place(tmp_path: Path) -> None:
    async with bridge(tmp_path, MAX_CONCURRENT_CALLS="1") as b:
        await b.answer("CA" + "1" * 32)  # answered; its stream is on its way
        params = voice_params("CA" + "2" * 32)
        refused = await b.post("/twilio/voice?capacity_retry=2", params)
        assert "busy" in refused_says(refused)
