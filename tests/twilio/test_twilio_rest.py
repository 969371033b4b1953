"""bot.twilio.rest (twilio-python) against the fake Twilio REST API: requests and error mapping."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from bot.twilio.rest import RestError, TwilioRest
from tests.fakes.twilio_rest import FakeTwilioRest
from tests.support import ACCOUNT_SID, AUTH_TOKEN, free_port

FROM = "+15005550006"


def place(rest: TwilioRest, to: str = "+14155550142") -> str:
    return rest.create_call(
        to=to, from_=FROM, url="http://bot/twilio/voice?interview=iv_1&attempt=1",
        status_callback="http://bot/twilio/status?interview=iv_1&attempt=1",
        amd_callback="http://bot/twilio/amd?interview=iv_1&attempt=1",
    )  # fmt: skip


async def test_create_sends_what_the_reference_asks_for() -> None:
    async with FakeTwilioRest(ACCOUNT_SID, AUTH_TOKEN) as fake:
        rest = TwilioRest(ACCOUNT_SID, AUTH_TOKEN, fake.url, timeout_s=5)
        sid = await asyncio.to_thread(place, rest)
        [call] = fake.calls
        assert sid == call.sid and sid.startswith("CA") and len(sid) == 34
        assert (call.to, call.from_) == ("+14155550142", FROM)
        assert call.form["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
        assert call.one("AsyncAmd") == "true"
        assert call.one("MachineDetection") == "DetectMessageEnd"
        assert call.one(
            "AsyncAmdStatusCallback",
        ).endswith("/twilio/amd?interview=iv_1&attempt=1")
        assert call.one("StatusCallbackMethod") == "POST"
        assert call.query == {"interview": "iv_1", "attempt": "1"}
        await asyncio.to_thread(
            lambda: rest.update_call(sid, twiml="<Response><Hangup/></Response>")
        )
        assert call.updates == [{"Twiml": "<Response><Hangup/></Response>"}]


@pytest.mark.parametrize(
    ("setup", "status", "code"),
    [
        (lambda f: None, 400, 21211),  # an invalid To
        (lambda f: f.fail_next("+14155550142", 429, 20429, "Too Many Requests"), 429, 20429),
        (lambda f: f.fail_next("+14155550142", 500, 20500, "Internal Server Error"), 500, 20500),
        (lambda f: setattr(f, "verified_from", {"+15005550001"}), 400, 21210),
    ],
)
async def test_errors_carry_status_code_and_message(
    setup: Callable[[FakeTwilioRest], object], status: int, code: int
) -> None:
    async with FakeTwilioRest(ACCOUNT_SID, AUTH_TOKEN) as fake:
        setup(fake)
        rest = TwilioRest(ACCOUNT_SID, AUTH_TOKEN, fake.url, timeout_s=5)
        to = "+1415" if code == 21211 else "+14155550142"
        with pytest.raises(RestError) as caught:
            await asyncio.to_thread(place, rest, to)
        assert (caught.value.http_status, caught.value.code) == (status, code)
        assert caught.value.message
        assert fake.calls == []


async def test_wrong_token_is_20003_and_unknown_call_20404() -> None:
    async with FakeTwilioRest(ACCOUNT_SID, AUTH_TOKEN) as fake:
        bad = TwilioRest(ACCOUNT_SID, "wrong-token", fake.url, timeout_s=5)
        with pytest.raises(RestError) as caught:
            await asyncio.to_thread(place, bad)
        assert (caught.value.http_status, caught.value.code) == (401, 20003)
        rest = TwilioRest(ACCOUNT_SID, AUTH_TOKEN, fake.url, timeout_s=5)
        with pytest.raises(RestError) as caught:
            await asyncio.to_thread(lambda: rest.update_call("CA" + "0" * 32, status="completed"))
        assert caught.value.code == 20404


async def test_unreachable_api_is_not_sent_and_slow_api_times_out() -> None:
    rest = TwilioRest(ACCOUNT_SID, AUTH_TOKEN, f"http://127.0.0.1:{free_port()}", timeout_s=2)
    with pytest.raises(RestError) as caught:
        await asyncio.to_thread(place, rest)
    assert caught.value.http_status is None and caught.value.sent is False
    async with FakeTwilioRest(ACCOUNT_SID, AUTH_TOKEN) as fake:
        fake.create_delay_s = 3
        rest = TwilioRest(ACCOUNT_SID, AUTH_TOKEN, fake.url, timeout_s=1)
        with pytest.raises(RestError) as caught:
            await asyncio.to_thread(place, rest)
        assert caught.value.http_status is None and caught.value.sent is True  # may have dialed
