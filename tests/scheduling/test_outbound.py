"""Outbound interviews end to end: the bot's dialer calls the fake Twilio REST API, which then
plays Twilio (signed callbacks, AMD, the voice webhook, the media stream) back to the bot."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx

from tests.fakes import audio
from tests.fakes.twilio_rest import FakeCall, FakeTwilioRest
from tests.fakes.voicelive import FakeVoiceLive
from tests.support import ACCOUNT_SID, AUTH_TOKEN
from tests.support.bridge import Bridge, bridge, stream_parameters, wait_ended

TOKEN = "api-token-for-tests-0123456789"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
PHONE = "+14155550142"


@contextlib.asynccontextmanager
async def outbound(tmp_path: Path, **env: str) -> AsyncIterator[tuple[Bridge, FakeTwilioRest]]:
    vl = FakeVoiceLive(
        response_audio=lambda i, fmt: audio.encode(
            audio.tone(400, 1200, audio.FORMAT_RATES[fmt]), fmt
        )
    )
    async with (
        FakeTwilioRest(ACCOUNT_SID, AUTH_TOKEN) as fake,
        bridge(
            tmp_path, vl, TWILIO_API_URL=fake.url, API_TOKEN=TOKEN, DIALER_POLL_S="0.05", **env
        ) as b,
    ):
        yield b, fake


async def schedule(b: Bridge, **extra: str) -> dict[str, Any]:
    body = {
        "candidate_name": "Ada Lovelace",
        "phone": PHONE,
        "profile": "practice",
        "scheduled_at": datetime.now(UTC).isoformat(),
        "timezone": "UTC",
        "window_start": "00:00",
        "window_end": "23:59",
        **extra,
    }
    async with httpx.AsyncClient(base_url=b.base, headers=HEADERS) as client:
        response = await client.post("/api/interviews", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def interview(b: Bridge, interview_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=b.base, headers=HEADERS) as client:
        response = await client.get(f"/api/interviews/{interview_id}")
    assert response.status_code == 200
    return response.json()


async def placed(fake: FakeTwilioRest, n: int = 1) -> FakeCall:
    for _ in range(400):
        if len(fake.calls) >= n:
            return fake.calls[n - 1]
        await asyncio.sleep(0.025)
    raise AssertionError(f"the dialer placed {len(fake.calls)} call(s), wanted {n}")


def twiml(response: httpx.Response) -> ElementTree.Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    return ElementTree.fromstring(response.text)


async def test_outbound_interview_uses_the_bridge_with_the_interviews_context(
    tmp_path: Path,
) -> None:
    async with outbound(tmp_path) as (b, fake):
        iv = await schedule(b, role="Backend engineer")
        call = await placed(fake)
        assert call.query == {"interview": iv["id"], "attempt": "1"}
        assert (call.to, call.from_) == (PHONE, "+15005550006")
        for status in ("initiated", "ringing"):
            assert (await fake.status(call, status)).status_code == 204
        answered = datetime.now(UTC).replace(microsecond=0)
        await fake.status(call, "in-progress", at=answered)
        assert (await interview(b, iv["id"]))["status"] == "in_progress"
        await fake.amd(call, "human")
        root = twiml(await fake.voice(call))
        stream = root.find("./Connect/Stream")
        assert stream is not None
        params = stream_parameters(stream)
        assert params["interview_id"] == iv["id"] and params["candidate_name"] == "Ada Lovelace"
        assert params["profile"] == "practice" and params["role"] == "Backend engineer"
        assert params["direction"] == "outbound" and params["to"] == "+1******0142"

        media = await b.open_stream(call.sid, stream)
        async with media:
            await media.wait_for(lambda: media.played_ms() >= 1000, timeout=5, what="greeting")
            await media.hangup()
        record = await wait_ended(b.app_state.store, call.sid)
        assert (record["direction"], record["interview_id"], record["profile"]) == (
            "outbound",
            iv["id"],
            "practice",
        )
        assert record["answered_at"] == answered.isoformat()  # from Twilio's `answered`

        await fake.status(call, "completed", duration=14)
        got = await interview(b, iv["id"])
        # Hung up before end_interview: a dropped call, called back (README "Resuming").
        assert got["status"] == "retrying"
        [attempt] = got["attempts"]
        assert (attempt["call_sid"], attempt["outcome"], attempt["answered_by"]) == (
            call.sid,
            "dropped",
            "human",
        )
        assert attempt["duration_s"] == 14 and "dropped" in attempt["error"]["message"]
        assert len(fake.calls) == 1


async def test_time_limit_outlasts_the_longest_interview_and_its_wrap_up(tmp_path: Path) -> None:
    """Twilio hangs up at TimeLimit mid-sentence: it must be MAX_CALL_DURATION_S + 5 min or more
    (a fixed 3600 s cut 60-minute interviews off)."""
    for max_s in ("3900", "7200"):
        (tmp_path / max_s).mkdir()
        async with outbound(tmp_path / max_s, MAX_CALL_DURATION_S=max_s) as (b, fake):
            await schedule(b)
            call = await placed(fake)
            limit = call.one("TimeLimit")
            assert limit is not None and int(limit) >= int(max_s) + 300, limit


async def test_a_machine_reported_before_the_answer_request_gets_the_message_at_once(
    tmp_path: Path,
) -> None:
    """AMD rarely speaks before Twilio requests the voice URL (async AMD requests it at answer),
    but when it has, the answer is the message itself: no stream, no interview."""
    async with outbound(tmp_path) as (b, fake):
        iv = await schedule(b)
        call = await placed(fake)
        await fake.status(call, "in-progress")
        await fake.amd(call, "machine_end_beep")
        root = twiml(await fake.voice(call))
        assert root.find("./Connect") is None and root.find("./Redirect") is None
        say = root.find("./Say")
        assert (
            say is not None
            and "interview" in (say.text or "")
            and root.find("./Hangup") is not None
        )
        assert "Ada" not in (say.text or "")  # a voicemail box may not be the candidate's
        await fake.status(call, "completed", duration=21)
        got = await interview(b, iv["id"])
        assert got["status"] == "retrying" and got["next_attempt_at"] is not None
        assert got["attempts"][0]["outcome"] == "voicemail"
        assert got["attempts"][0]["voicemail_at"] is not None
        assert b.vl.sessions == [] and b.app_state.services.sessions.__len__() == 0
        assert await b.app_state.store.get_call(call.sid) is None  # no interview took place
        assert call.updates == []


async def test_machine_detected_after_the_stream_started_gets_the_voicemail_message(
    tmp_path: Path,
) -> None:
    async with outbound(tmp_path) as (b, fake):
        iv = await schedule(b)
        call = await placed(fake)
        await fake.status(call, "in-progress")
        root = twiml(await fake.voice(call))  # no verdict yet: the stream connects at once
        assert root.find("./Connect/Stream") is not None
        await fake.amd(call, "machine_end_beep")
        for _ in range(200):
            if call.updates:
                break
            await asyncio.sleep(0.025)
        [update] = call.updates
        assert "<Say>" in update["Twiml"] and "<Hangup" in update["Twiml"]
        assert (await interview(b, iv["id"]))["status"] == "retrying"


async def test_out_of_order_status_callbacks_end_in_the_right_state(tmp_path: Path) -> None:
    async with outbound(tmp_path) as (b, fake):
        iv = await schedule(b)
        call = await placed(fake)
        await fake.status(call, "no-answer", sequence=2)
        await fake.status(call, "ringing", sequence=1)
        await fake.status(call, "initiated", sequence=0)
        got = await interview(b, iv["id"])
        assert got["status"] == "retrying"
        assert got["attempts"][0]["call_status"] == "no-answer"
        assert got["attempts"][0]["outcome"] == "no-answer"


async def test_callbacks_with_a_bad_signature_change_nothing(tmp_path: Path) -> None:
    async with outbound(tmp_path) as (b, fake):
        iv = await schedule(b)
        call = await placed(fake)
        url = call.one("StatusCallback")
        assert url is not None
        async with httpx.AsyncClient() as client:
            forged = await client.post(
                url,
                data={"CallSid": call.sid, "CallStatus": "completed", "SequenceNumber": "9"},
                headers={"X-Twilio-Signature": "forged"},
            )
        assert forged.status_code == 403
        assert (await interview(b, iv["id"]))["status"] == "dialing"


async def test_rest_errors_are_stored_with_code_and_message(tmp_path: Path) -> None:
    async with outbound(tmp_path) as (b, fake):
        fake.fail_next(PHONE, 400, 21211, "Invalid 'To' Phone Number")
        iv = await schedule(b)
        for _ in range(200):
            got = await interview(b, iv["id"])
            if got["status"] == "failed":
                break
            await asyncio.sleep(0.025)
        assert got["status"] == "failed"
        assert got["attempts"][0]["outcome"] == "rejected"
        assert got["attempts"][0]["error"] == {
            "code": "21211",
            "http_status": 400,
            "message": "Invalid 'To' Phone Number",
        }
        assert fake.calls == []


async def test_draining_replica_claims_nothing(tmp_path: Path) -> None:
    async with outbound(tmp_path) as (b, fake):
        services = b.app_state.services
        services.draining = True
        iv = await schedule(b)
        await asyncio.sleep(0.5)  # ten polls
        assert fake.calls == [] and (await interview(b, iv["id"]))["status"] == "scheduled"
        services.draining = False
        await placed(fake)


async def test_dev_mode_has_no_dialer_and_says_so(tmp_path: Path) -> None:
    from structlog.testing import capture_logs

    from tests.support import make_settings, running_app

    settings = make_settings(
        tmp=tmp_path,
        TWILIO_AUTH_TOKEN="",
        TWILIO_ACCOUNT_SID="",
        TWILIO_PHONE_NUMBER="",
        VOICE_LIVE_ENDPOINT="http://127.0.0.1:9",
    )
    assert settings.dev_mode
    with capture_logs() as logs:
        async with running_app(settings) as (_base, app):
            assert app.state.services.dialer is None
            assert app.state.services.interviews is not None  # scheduling still works
    [line] = [e for e in logs if e["event"] == "dialer.disabled"]
    assert "TWILIO_ACCOUNT_SID" in line["reason"]


async def test_the_voicemail_message_is_read_from_twiml_dir(tmp_path: Path) -> None:
    """Ops edit TWIML_DIR/voicemail.xml (e.g. /app/twiml in the image), not a file beside the
    source: both ways a machine gets the message use their edit."""
    docs = tmp_path / "twiml"
    docs.mkdir()
    edited = "<Response><Say>Acme here about your interview; we will ring again.</Say></Response>"
    (docs / "voicemail.xml").write_text(edited)
    (tmp_path / "run").mkdir()
    async with outbound(tmp_path / "run", TWIML_DIR=str(docs)) as (b, fake):
        await schedule(b)
        call = await placed(fake)
        await fake.status(call, "in-progress")
        await fake.amd(call, "machine_end_beep")  # known before the answer request
        held = twiml(await fake.voice(call))
        assert held.findtext("./Say") == "Acme here about your interview; we will ring again."
    (tmp_path / "live").mkdir()
    async with outbound(tmp_path / "live", TWIML_DIR=str(docs)) as (b, fake):
        await schedule(b)
        call = await placed(fake)
        await fake.status(call, "in-progress")
        await fake.voice(call)  # the stream connects at once
        await fake.amd(call, "machine_end_beep")
        for _ in range(200):
            if call.updates:
                break
            await asyncio.sleep(0.025)
        assert [u["Twiml"] for u in call.updates] == [edited]
