"""A bot process killed mid-call leaves an `interrupted` record with the turns so far."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import httpx

from tests.fakes import audio
from tests.fakes.voicelive import FakeVoiceLive
from tests.support import bot_env, bot_process, free_port, make_settings
from tests.support.bridge import Bridge

API_TOKEN = "api-token-for-tests-0123456789"


async def get_call(base: str, call_sid: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with httpx.AsyncClient(base_url=base, headers=headers) as client:
        response = await client.get(f"/api/calls/{call_sid}")
        return response.json() if response.status_code == 200 else {}


async def test_killed_mid_call_the_record_is_marked_interrupted(tmp_path: Path) -> None:
    async with FakeVoiceLive(speed=4.0) as fake:
        port = free_port()
        env = bot_env(tmp_path, port, fake.endpoint, API_TOKEN=API_TOKEN,
                      CALL_HEARTBEAT_S="0.3", LOG_LEVEL="warning")  # fmt: skip
        settings = make_settings(port, tmp_path)
        base = f"http://127.0.0.1:{port}"
        async with bot_process(env, port) as proc:
            bridge = Bridge(base, settings, fake)
            call = await bridge.call()
            session = await fake.wait_for_session(1)
            await call.wait_for(lambda: call.played_ms() >= 1500, timeout=5)
            await call.speak(audio.ulaw_tone(1000, 300, 0.5))
            await session.wait_for(lambda: len(session.responses) == 2, timeout=5)
            for _ in range(100):  # the caller's turn is written as it happens
                record = await get_call(base, call.call_sid)
                if len(record.get("transcript", [])) >= 2:
                    break
                await asyncio.sleep(0.05)
            assert record["status"] == "in_progress"
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            await call.aclose()
        async with bot_process(env, port):
            for _ in range(100):
                record = await get_call(base, call.call_sid)
                if record.get("status") == "interrupted":
                    break
                await asyncio.sleep(0.05)
        assert record["status"] == "interrupted" and record["end_reason"] == "interrupted"
        speakers = [t["speaker"] for t in record["transcript"]]
        assert speakers[:2] == ["bot", "caller"], record["transcript"]
        assert record["ended_at"] is not None and record["turns"] >= 1
