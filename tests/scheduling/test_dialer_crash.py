"""A `bot serve` process killed after Twilio accepted its call but before it stored the CallSid:
after a restart the interview is not dialed again (Twilio's callback named the call)."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.call.test_call_crash import API_TOKEN
from tests.fakes.twilio_rest import FakeCall, FakeTwilioRest
from tests.fakes.voicelive import FakeVoiceLive
from tests.support import ACCOUNT_SID, AUTH_TOKEN, bot_env, bot_process, free_port

HEADERS = {"Authorization": f"Bearer {API_TOKEN}"}


async def test_killed_between_dial_and_storing_the_call_sid(tmp_path: Path) -> None:
    callbacks: list[int] = []

    async def twilio_reports(call: FakeCall) -> None:  # Twilio's `initiated`, at once
        callbacks.append((await fake.status(call, "initiated")).status_code)

    async with (
        FakeVoiceLive() as vl,
        FakeTwilioRest(ACCOUNT_SID, AUTH_TOKEN, on_create=twilio_reports) as fake,
    ):
        fake.respond_delay_s = 4  # the bot never hears the CallSid: it is killed first
        port = free_port()
        env = bot_env(
            tmp_path, port, vl.endpoint, TWILIO_API_URL=fake.url, API_TOKEN=API_TOKEN,
            LOG_LEVEL="warning", DATABASE_URL=f"sqlite:///{tmp_path}/bot.db",
            DIALER_POLL_S="0.05", DIALER_RECOVERY_S="1",
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        body = {
            "candidate_name": "Ada",
            "phone": "+14155550142",
            "profile": "practice",
            "scheduled_at": datetime.now(UTC).isoformat(),
            "timezone": "UTC",
            "window_start": "00:00",
            "window_end": "23:59",
        }
        async with bot_process(env, port) as proc:
            async with httpx.AsyncClient(base_url=base, headers=HEADERS) as client:
                created = await client.post("/api/interviews", json=body)
            assert created.status_code == 201, created.text
            interview_id = created.json()["id"]
            for _ in range(400):
                if callbacks:
                    break
                await asyncio.sleep(0.025)
            assert callbacks == [204] and len(fake.calls) == 1
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
        async with bot_process(env, port):
            await asyncio.sleep(3)  # three recovery periods and sixty polls
            async with httpx.AsyncClient(base_url=base, headers=HEADERS) as client:
                got = (await client.get(f"/api/interviews/{interview_id}")).json()
        assert len(fake.calls) == 1, "dialed twice"
        assert got["status"] == "dialing"
        [attempt] = got["attempts"]
        assert attempt["call_sid"] == fake.calls[0].sid and attempt["outcome"] == "initiated"
