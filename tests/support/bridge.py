"""Helpers for bridge tests: a bot wired to the fake Voice Live, and calls placed like Twilio."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx

from bot.config import Settings
from tests.fakes.signing import twilio_signature
from tests.fakes.twilio_media import FakeTwilioCall
from tests.fakes.voicelive import FakeVoiceLive
from tests.support.server import AUTH_TOKEN, free_port, make_settings, running_app

CALLER = "+14155550142"


@dataclass
class Bridge:
    base: str
    settings: Settings
    vl: FakeVoiceLive
    app_state: Any = None

    async def post(
        self,
        path: str,
        params: dict[str, str],
        *,
        token: str = AUTH_TOKEN,
        signature: str | None = None,
    ) -> httpx.Response:
        """POST a form as Twilio does, signed over the public URL."""
        sig = (
            signature
            if signature is not None
            else twilio_signature(token, self.settings.url_for(path), params)
        )
        async with httpx.AsyncClient(base_url=self.base, timeout=5) as client:
            return await client.post(path, data=params, headers={"X-Twilio-Signature": sig})

    async def answer(self, call_sid: str) -> tuple[str, dict[str, str], ElementTree.Element]:
        """The voice webhook for a new inbound call: (stream URL, parameters, TwiML root)."""
        response = await self.post("/twilio/voice", voice_params(call_sid))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/xml")
        root = ElementTree.fromstring(response.text)
        stream = root.find("./Connect/Stream")
        assert stream is not None, response.text
        return stream.get("url", ""), stream_parameters(stream), root

    def ws_url(self) -> str:
        return self.base.replace("http://", "ws://") + "/twilio/media"

    async def open_stream(self, call_sid: str, stream: ElementTree.Element) -> FakeTwilioCall:
        """The media stream a TwiML <Stream> asks for, opened as Twilio does for call_sid:
        signed for its URL, its parameters in `start` (connected and started)."""
        media = FakeTwilioCall(self.ws_url(), AUTH_TOKEN, call_sid=call_sid, continuous=True,
                               custom_parameters=stream_parameters(stream),
                               signature_url=stream.get("url"))  # fmt: skip
        await media.connect()
        await media.start()
        return media

    async def call(self, *, continuous: bool = True, **kwargs: Any) -> FakeTwilioCall:
        """Place an inbound call the way Twilio does: webhook, then a signed stream with start."""
        call = FakeTwilioCall(self.ws_url(), AUTH_TOKEN, continuous=continuous, **kwargs)
        stream_url, params, _ = await self.answer(call.call_sid)
        call.custom_parameters.update(params)
        call.signature_url = stream_url
        await call.connect()
        await call.start()
        return call


def stream_parameters(stream: ElementTree.Element) -> dict[str, str]:
    """A TwiML <Stream>'s <Parameter>s, as Twilio hands them back in `start`."""
    return {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}


def voice_params(call_sid: str) -> dict[str, str]:
    return {
        "CallSid": call_sid,
        "AccountSid": "AC" + "0" * 32,
        "From": CALLER,
        "To": "+15005550006",
        "CallStatus": "ringing",
        "Direction": "inbound",
    }


@contextlib.asynccontextmanager
async def bridge(
    tmp: Path, vl: FakeVoiceLive | None = None, *, credential: Any = None, **env: Any
) -> AsyncIterator[Bridge]:
    """A fake Voice Live and a bot pointed at it, both on 127.0.0.1 (`credential`: Entra ID)."""
    fake = vl or FakeVoiceLive()
    async with fake:
        port = free_port()
        env.setdefault("VOICE_LIVE_ENDPOINT", fake.endpoint)
        settings = make_settings(port, tmp, **env)
        async with running_app(settings, credential=credential) as (base, app):
            yield Bridge(base, settings, fake, app.state)


def tone_power(samples: Any, rate: int, freq: float) -> float:
    """Power of one frequency in a signal (Goertzel), for telling responses apart."""
    import numpy as np

    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        return 0.0
    n = np.arange(x.size)
    return float(np.abs(np.dot(x, np.exp(-2j * np.pi * freq * n / rate))) / x.size)


async def wait_ended(store: Any, call_sid: str) -> dict[str, Any]:
    """The call's record once it has ended (the final write is queued behind the audio)."""
    for _ in range(200):
        record = await store.get_call(call_sid)
        if record and record["ended_at"]:
            return record
        await asyncio.sleep(0.02)
    raise AssertionError(f"no ended record for {call_sid}: {record}")
