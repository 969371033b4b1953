"""The code gate: INBOUND_REQUIRE_CODE asks for a 6-digit code; three wrong codes hang up."""

from __future__ import annotations

import asyncio
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest

from bot.http import gate
from bot.interview.context import InterviewContext
from bot.observability.logs import configure
from tests.fakes.signing import twilio_signature
from tests.fakes.twilio_media import FakeTwilioCall
from tests.fakes.voicelive import FakeVoiceLive
from tests.support import AUTH_TOKEN
from tests.support.bridge import Bridge, bridge, stream_parameters, voice_params, wait_ended
from tests.support.interview import Directory

CODE = "482916"
ADA = InterviewContext("practice", "iv-42", "Ada Lovelace", "staff engineer")


def gathered(root: ElementTree.Element) -> ElementTree.Element:
    found = root.find("./Gather")
    assert found is not None, ElementTree.tostring(root)
    return found


async def enter(b: Bridge, call_sid: str, attempt: int, digits: str) -> ElementTree.Element:
    """Post a <Gather> result the way Twilio does (signed over the action URL with its query)."""
    form = {**voice_params(call_sid), "Digits": digits, "FinishedOnKey": ""}
    response = await b.post(f"/twilio/code?attempt={attempt}", form)
    assert response.status_code == 200, response.text
    return ElementTree.fromstring(response.text)


def fake() -> FakeVoiceLive:
    return FakeVoiceLive(response_audio=lambda i, f: b"\0" * 4800, speed=math.inf, energy_vad=False)


async def test_the_right_code_opens_the_interview_stream(tmp_path: Path) -> None:
    async with bridge(tmp_path, fake(), INBOUND_REQUIRE_CODE="true") as b:
        directory = Directory({CODE: ADA})
        b.app_state.services.directory = directory
        call = FakeTwilioCall(b.ws_url(), AUTH_TOKEN, continuous=False)
        answer = await b.post("/twilio/voice", voice_params(call.call_sid))
        root = ElementTree.fromstring(answer.text)
        ask = gathered(root)
        assert ask.attrib == {
            "input": "dtmf",
            "numDigits": "6",
            "timeout": "10",
            "action": b.settings.url_for("/twilio/code") + "?attempt=1",
            "method": "POST",
            "actionOnEmptyResult": "true",
        }
        assert "six-digit interview code" in ask.findtext("Say", "")
        assert root.find("./Connect") is None and b.vl.sessions == [], "no stream before the code"

        root = await enter(b, call.call_sid, 1, CODE)
        assert directory.lookups == [CODE]
        stream = root.find("./Connect/Stream")
        assert stream is not None
        params = stream_parameters(stream)
        assert params["profile"] == "practice" and params["interview_id"] == "iv-42"
        assert params["candidate_name"] == "Ada Lovelace" and params["role"] == "staff engineer"
        assert params["token"] and params["from"] == "+1******0142"
        # The session opened for this interview knows the candidate; the stream carries it on.
        session = await b.vl.wait_for_session(1)
        config = (await session.wait_event("session.update"))["session"]
        assert "The candidate is Ada Lovelace." in config["instructions"]
        assert "role of staff engineer" in config["instructions"]
        call.custom_parameters.update(params)
        call.signature_url = stream.get("url", "")
        async with call:
            await call.connect()
            await call.start()
            await session.wait_event("response.create")
            await call.hangup()
        record = await wait_ended(b.app_state.store, call.call_sid)
    assert record["interview_id"] == "iv-42" and record["profile"] == "practice"


async def test_three_wrong_codes_end_the_call_politely(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with bridge(tmp_path, fake(), INBOUND_REQUIRE_CODE="true", LOG_FORMAT="json") as b:
        configure("json", "debug", b.settings.secrets)
        try:
            directory = Directory({CODE: ADA})
            b.app_state.services.directory = directory
            sid = "CA" + "7" * 32
            root = await enter(b, sid, 1, "111111")
            retry = gathered(root)
            assert retry.get("action", "").endswith("/twilio/code?attempt=2")
            assert "not recognised" in retry.findtext("Say", "")
            root = await enter(b, sid, 2, "")  # no key pressed before the timeout
            assert gathered(root).get("action", "").endswith("?attempt=3")
            root = await enter(b, sid, 3, "99")  # too short: not even looked up
            assert root.find("./Gather") is None and root.find("./Connect") is None
            assert "could not find your interview" in root.findtext("Say", "")
            assert [child.tag for child in root] == ["Say", "Hangup"]
            assert directory.lookups == ["111111"]
            assert b.vl.sessions == []
        finally:
            configure("console", "info")
    out = capsys.readouterr()
    lines = [json.loads(x) for x in out.err.splitlines() + out.out.splitlines() if x[:1] == "{"]
    rejected = [x for x in lines if x["event"] == "gate.code_rejected"]
    assert [(x["attempt"], x["entered"], x["call_sid"]) for x in rejected] == [
        (1, "wrong", sid),
        (2, "none", sid),
        (3, "malformed", sid),
    ]
    assert "111111" not in out.err + out.out, "the digits are never logged"


async def test_a_code_entered_while_draining_gets_the_call_back_message(tmp_path: Path) -> None:
    async with bridge(tmp_path, fake(), INBOUND_REQUIRE_CODE="true") as b:
        directory = Directory({CODE: ADA})
        b.app_state.services.directory = directory
        call_sid = FakeTwilioCall(b.ws_url(), AUTH_TOKEN).call_sid
        await b.post("/twilio/voice", voice_params(call_sid))  # asked for the code...
        b.app_state.services.draining = True  # ...then SIGTERM, while the caller keys it in
        root = await enter(b, call_sid, 1, CODE)
        assert root.find("./Connect") is None and root.find("./Hangup") is not None
        assert "call back" in "".join(root.itertext()).lower()
        assert b.vl.sessions == [] and directory.lookups == []


async def test_the_attempt_counter_is_covered_by_the_signature(tmp_path: Path) -> None:
    async with bridge(tmp_path, fake(), INBOUND_REQUIRE_CODE="true") as b:
        b.app_state.services.directory = Directory({CODE: ADA})
        form = {**voice_params("CA" + "8" * 32), "Digits": "000000"}
        signed_for_3 = twilio_signature(
            AUTH_TOKEN, b.settings.url_for("/twilio/code?attempt=3"), form
        )
        # Replaying attempt 3's request as attempt 1 (to get three more tries) is refused.
        tampered = await b.post("/twilio/code?attempt=1", form, signature=signed_for_3)
        assert tampered.status_code == 403
        assert (await b.post("/twilio/code?attempt=4", form)).status_code == 400
        assert (await b.post("/twilio/code", form)).status_code == 400


async def test_without_a_directory_or_when_it_fails_the_caller_hears_an_apology(
    tmp_path: Path,
) -> None:
    async with bridge(tmp_path, fake(), INBOUND_REQUIRE_CODE="true") as b:
        b.app_state.services.directory = None  # no directory configured
        root = await enter(b, "CA" + "9" * 32, 1, CODE)
        assert "cannot check interview codes" in root.findtext("Say", "")
        assert root.find("./Hangup") is not None
        b.app_state.services.directory = Directory({CODE: ADA}, fail=True)
        root = await enter(b, "CA" + "9" * 32, 1, CODE)
        assert "cannot check interview codes" in root.findtext("Say", "")
        assert b.vl.sessions == []


async def test_outbound_calls_and_calls_without_the_gate_go_straight_to_the_stream(
    tmp_path: Path,
) -> None:
    async with bridge(tmp_path, fake(), INBOUND_REQUIRE_CODE="true") as b:
        params = {**voice_params("CA" + "a" * 32), "Direction": "outbound-api"}
        root = ElementTree.fromstring((await b.post("/twilio/voice", params)).text)
        assert root.find("./Connect/Stream") is not None and root.find("./Gather") is None
    async with bridge(tmp_path, fake()) as b:
        _, params, root = await b.answer("CA" + "b" * 32)
        assert params["profile"] == "practice" and "interview_id" not in params


def test_gate_twiml_and_attempts() -> None:
    assert gate.attempt_of({"attempt": "2"}) == 2
    assert gate.attempt_of({"attempt": "0"}) is None and gate.attempt_of({}) is None
    assert gate.attempt_of({"attempt": "٣"}) is None  # a non-ASCII digit
    assert (
        gate.well_formed("012345")
        and not gate.well_formed("01234")
        and not gate.well_formed("01234x")
    )


async def test_a_scheduled_interview_taken_by_code_is_not_dialed_and_completes(
    tmp_path: Path,
) -> None:
    # The real interview store: schedule over the API, call in with the code, hang up.
    token = "api-token-for-gate-tests-0123456789"
    async with bridge(tmp_path, fake(), INBOUND_REQUIRE_CODE="true", API_TOKEN=token) as b:
        soon = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
        body = {"candidate_name": "Ada Lovelace", "phone": "+14155550142",
                "profile": "practice", "scheduled_at": soon, "timezone": "UTC",
                "window_start": "00:00", "window_end": "23:59"}  # fmt: skip
        async with httpx.AsyncClient(base_url=b.base, timeout=5) as client:
            auth = {"Authorization": f"Bearer {token}"}
            made = await client.post("/api/interviews", json=body, headers=auth)
            assert made.status_code == 201, made.text
            interview = made.json()
            call = FakeTwilioCall(b.ws_url(), AUTH_TOKEN, continuous=False)
            await b.post("/twilio/voice", voice_params(call.call_sid))
            root = await enter(b, call.call_sid, 1, interview["code"])
            stream = root.find("./Connect/Stream")
            assert stream is not None, ElementTree.tostring(root)
            params = stream_parameters(stream)
            assert params["interview_id"] == interview["id"]
            assert params["candidate_name"] == "Ada Lovelace"
            shown = (await client.get(f"/api/interviews/{interview['id']}", headers=auth)).json()
            assert shown["status"] == "in_progress"  # the dialer will not call her as well
            assert [a["call_sid"] for a in shown["attempts"]] == [call.call_sid]
            # Nobody else gets in with the same code while the interview is hers.
            other = "CA" + "7" * 32
            await b.post("/twilio/voice", voice_params(other))
            assert (await enter(b, other, 1, interview["code"])).find("./Connect") is None
            call.custom_parameters.update(params)
            call.signature_url = stream.get("url", "")
            async with call:
                await call.connect()
                await call.start()
                session = await b.vl.wait_for_session(1)
                await session.wait_event("response.create")
                await call.hangup()
            await wait_ended(b.app_state.store, call.call_sid)
            for _ in range(100):
                shown = await client.get(f"/api/interviews/{interview['id']}", headers=auth)
                if shown.json()["status"] != "in_progress":
                    break
                await asyncio.sleep(0.02)
        # She hung up before end_interview: a dropped call, resumable (README "Resuming").
        assert shown.json()["status"] == "retrying"
        assert shown.json()["attempts"][0]["outcome"] == "dropped"
