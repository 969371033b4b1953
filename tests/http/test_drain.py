"""SIGTERM drains a real `bot serve` process: calls finish, newcomers hear "call back", exit 0."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from xml.etree import ElementTree

import httpx

from bot.http.drain import drain
from tests.fakes import audio
from tests.fakes.twilio_media import FakeTwilioCall
from tests.fakes.voicelive import FakeVoiceLive
from tests.support import AUTH_TOKEN, bot_env, bot_process, free_port, make_settings
from tests.support.bridge import Bridge, bridge, voice_params
from tests.support.interview import fixed_line, practice_profile


async def get(base: str, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        return await client.get(path)


def refused_says(response: httpx.Response) -> str:
    """The words of a polite refusal; fails unless it is 200 TwiML that says and hangs up."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    root = ElementTree.fromstring(response.text)
    assert root.find("./Connect") is None, response.text
    assert [child.tag for child in root] == ["Say", "Hangup"], response.text
    return root.findtext("Say") or ""


async def test_sigterm_mid_call_drains_and_exits_0(tmp_path: Path) -> None:
    async with FakeVoiceLive(speed=4.0) as fake:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = bot_env(tmp_path, port, fake.endpoint, LOG_FORMAT="json", DRAIN_TIMEOUT_S="60")
        async with bot_process(env, port, tmp_path / "bot.log") as proc:
            bridge = Bridge(base, make_settings(port, tmp_path), fake)
            call = await bridge.call()
            session = await fake.wait_for_session(1)
            await call.wait_for(lambda: call.played_ms() >= 300, timeout=5)
            assert (await get(base, "/readyz")).status_code == 200

            proc.send_signal(signal.SIGTERM)
            ready = None
            for _ in range(20):  # "at once": the first probe after the signal is handled
                ready = await get(base, "/readyz")
                if ready.status_code == 503:
                    break
                await asyncio.sleep(0.01)
            assert ready is not None and ready.status_code == 503
            assert ready.json()["reason"] == "draining" and ready.json()["active_calls"] == 1

            newcomer = await bridge.post("/twilio/voice", voice_params("CA" + "7" * 32))
            assert "call back" in refused_says(newcomer)
            assert len(fake.sessions) == 1  # no model session opened for the refused call

            # The call in progress carries on: the caller answers and hears the next turn.
            await call.wait_for(lambda: call.played_ms() >= 1400 and call.buffered_ms() == 0)
            heard = call.played_ms()
            await call.speak(audio.ulaw_tone(1000, 300, 0.5))
            await session.wait_for(lambda: len(session.responses) == 2, timeout=5)
            await call.wait_for(lambda: call.played_ms() >= heard + 1000, timeout=5)
            assert proc.returncode is None and not call.closed

            await call.hangup()
            assert await asyncio.wait_for(proc.wait(), 15) == 0
        log = (tmp_path / "bot.log").read_text()
        assert '"drain.started"' in log and '"drain.finished"' in log
        assert '"call.refused"' in log and "drain.timeout" not in log


async def test_drain_timeout_wraps_up_with_a_closing_line(tmp_path: Path) -> None:
    async with FakeVoiceLive(speed=4.0) as fake:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = bot_env(tmp_path, port, fake.endpoint, LOG_FORMAT="json", DRAIN_TIMEOUT_S="0.5")
        async with bot_process(env, port, tmp_path / "bot.log") as proc:
            bridge = Bridge(base, make_settings(port, tmp_path), fake)
            call = await bridge.call()
            session = await fake.wait_for_session(1)
            await call.wait_for(lambda: call.played_ms() >= 1400 and call.buffered_ms() == 0)

            proc.send_signal(signal.SIGTERM)
            await session.wait_for(lambda: len(session.responses) == 2, timeout=5)
            closing = session.responses[1]
            assert fixed_line(closing.request) == practice_profile().closing
            heard_before = call.played_ms()
            assert await call.wait_closed(timeout=10) == 1000  # the bot ended the call...
            # ...after the closing line played out in full (the fake's response is 1.5 s).
            assert call.played_ms() - heard_before >= closing.audio_ms - 100
            # Twilio then asks what to do next: the process is still there to answer.
            ended = await bridge.post("/twilio/stream-ended", {"CallSid": call.call_sid})
            assert ended.status_code == 200 and "<Hangup" in ended.text
            assert await asyncio.wait_for(proc.wait(), 15) == 0
        log = (tmp_path / "bot.log").read_text()
        assert '"drain.timeout"' in log and '"call.wrap_up"' in log


async def test_second_signal_stops_at_once_with_status_1(tmp_path: Path) -> None:
    async with FakeVoiceLive(speed=4.0) as fake:
        port = free_port()
        env = bot_env(tmp_path, port, fake.endpoint, LOG_FORMAT="json", DRAIN_TIMEOUT_S="60")
        async with bot_process(env, port, tmp_path / "bot.log") as proc:
            bridge = Bridge(f"http://127.0.0.1:{port}", make_settings(port, tmp_path), fake)
            call = await bridge.call()
            await fake.wait_for_session(1)
            proc.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.3)
            assert proc.returncode is None  # draining: the call holds the process
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 15) == 1
            await call.aclose()


async def test_idle_process_exits_0_at_once_on_sigterm(tmp_path: Path) -> None:
    async with FakeVoiceLive() as fake:
        port = free_port()
        env = bot_env(tmp_path, port, fake.endpoint, LOG_FORMAT="json")
        async with bot_process(env, port, tmp_path / "bot.log") as proc:
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 10) == 0


async def test_a_drain_waits_for_streams_whose_webhook_was_answered(tmp_path: Path) -> None:
    async with bridge(tmp_path, DRAIN_TIMEOUT_S="30") as b:
        services = b.app_state.services
        call = FakeTwilioCall(b.ws_url(), AUTH_TOKEN, continuous=True)
        stream_url, params, _ = await b.answer(call.call_sid)  # answered, stream not yet open
        draining = asyncio.create_task(drain(services, timeout_s=30))
        await asyncio.sleep(0.5)
        assert services.draining and not draining.done()  # it waits for that stream
        call.custom_parameters.update(params)
        call.signature_url = stream_url
        await call.connect()
        await call.start()  # accepted while draining: the caller was already let in
        await call.wait_for(lambda: call.played_ms() >= 500, timeout=5)
        assert not draining.done()
        await call.hangup()
        await asyncio.wait_for(draining, 5)
        assert not services.active
