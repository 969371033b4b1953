"""Greeting after answer (issue 14.1): a dialed candidate answers → the first greeting audio
reaches them, with the fakes; and a machine verdict → the voicemail REST update."""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from xml.etree import ElementTree

import httpx

from bench.bridge import free_port
from bench.bridge_load import AUTH_TOKEN, wait_port
from bench.proc import stop
from tests.fakes import audio
from tests.fakes.twilio_media import FakeTwilioCall
from tests.fakes.twilio_rest import FakeCall, FakeTwilioRest
from tests.fakes.voicelive import FakeVoiceLive

PY = sys.executable
ACCOUNT_SID = "AC" + "0" * 32
API_TOKEN = "bench-api-token-0123456789abcdef"
RUNS = 11  # the first is a warm-up, left out
PHONE = "+14155550142"


def _bot_env(port: int, vl: str, rest: str, data_dir: str) -> dict[str, str]:
    return {
        **os.environ,
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "PORT": str(port),
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_PHONE_NUMBER": "+15005550006",
        "TWILIO_API_URL": rest,
        "VOICE_LIVE_ENDPOINT": vl,
        "VOICE_LIVE_API_KEY": "test-key",
        "API_TOKEN": API_TOKEN,
        "DIALER_POLL_S": "0.05",
        "DIALER_CALLS_PER_SECOND": "20",
        "LOG_LEVEL": "warning",
        "LOG_FORMAT": "json",
        "DATA_DIR": data_dir,
    }


async def _placed(fake: FakeTwilioRest, n: int) -> FakeCall:
    for _ in range(400):
        if len(fake.calls) >= n:
            return fake.calls[n - 1]
        await asyncio.sleep(0.01)
    raise RuntimeError(f"the dialer placed {len(fake.calls)} call(s), wanted {n}")


async def _one(client: httpx.AsyncClient, fake: FakeTwilioRest, ws: str, n: int) -> dict:
    """Schedule, let the dialer call, then play Twilio at answer: the voice URL at once, the
    stream its TwiML opens; later a machine verdict. Times on this process's loop clock."""
    loop = asyncio.get_running_loop()
    body = {"candidate_name": "Ada Lovelace", "phone": PHONE, "profile": "practice",
            "scheduled_at": datetime.now(UTC).isoformat(), "timezone": "UTC",
            "window_start": "00:00", "window_end": "23:59"}  # fmt: skip
    (await client.post("/api/interviews", json=body)).raise_for_status()
    call = await _placed(fake, n)
    await fake.status(call, "in-progress")
    answered = loop.time()  # Twilio requests the voice URL the moment the callee answers
    response = await fake.voice(call)
    twiml_at = loop.time()
    stream = ElementTree.fromstring(response.text).find("./Connect/Stream")
    if stream is None:
        raise RuntimeError(f"no <Connect><Stream> at answer: {response.text}")
    params = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
    media = FakeTwilioCall(ws, AUTH_TOKEN, call_sid=call.sid, continuous=True,
                           custom_parameters=params, signature_url=stream.get("url"))  # fmt: skip
    updated = asyncio.Event()

    async def on_update(_call: FakeCall, _form: dict[str, str]) -> None:
        updated.set()  # Twilio replaces the TwiML: the stream ends with `stop`
        await media.hangup()

    async with media:
        await media.connect()
        await media.start()
        await media.wait_for(lambda: bool(media.events("media")), 10, "the greeting")
        first = next(t for t, e in media.received_events if e.get("event") == "media")
        fake.on_update = on_update
        verdict = loop.time()
        await fake.amd(call, "machine_end_beep")
        await asyncio.wait_for(updated.wait(), 10)
        update = loop.time()
        await media.wait_closed(10)
    await fake.status(call, "completed", duration=5)
    return {"greeting": first - answered, "twiml": twiml_at - answered,
            "voicemail": update - verdict}  # fmt: skip


async def _measure(data_dir: str, log: IO[bytes]) -> list[dict]:
    def tone(_i: int, fmt: str) -> bytes:
        return audio.encode(audio.tone(400, 1500, audio.FORMAT_RATES[fmt]), fmt)

    # The fake model starts speaking at once: the figure is the bot's and Twilio's part.
    async with (
        FakeVoiceLive(response_audio=tone, first_delta_delay_ms=0.0) as vl,
        FakeTwilioRest(ACCOUNT_SID, AUTH_TOKEN) as fake,
    ):
        port = free_port()
        bot = await asyncio.create_subprocess_exec(
            PY, "-m", "bot", "serve", "--port", str(port), cwd=data_dir,
            env=_bot_env(port, vl.endpoint, fake.url, data_dir), stdout=log, stderr=log,
        )  # fmt: skip
        try:
            await wait_port(port)
            base = f"http://127.0.0.1:{port}"
            headers = {"Authorization": f"Bearer {API_TOKEN}"}
            async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
                ws = base.replace("http://", "ws://") + "/twilio/media"
                return [await _one(client, fake, ws, n) for n in range(1, RUNS + 1)]
        finally:
            await stop(bot)


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms (min {min(values) * 1000:.0f}, " + (
        f"max {max(values) * 1000:.0f})"
    )


def render(runs: list[dict[str, Any]]) -> str:
    kept = runs[1:]
    col = {k: [r[k] for r in kept] for k in ("greeting", "twiml", "voicemail")}
    return "\n".join(
        [
            "## Greeting after answer",
            "",
            "A dialed candidate answers → the first greeting audio reaches them (issue 14.1), "
            f"with the fakes; median of {len(kept)} calls after one warm-up, one at a time. "
            f"Taken {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on this shared machine.",
            "",
            "| measure | median (min, max) |",
            "|---|---|",
            f"| answer (voice URL requested) → first greeting media frame at the caller | "
            f"{_ms(col['greeting'])} |",
            f"| of which: answer → `<Connect><Stream>` TwiML back | {_ms(col['twiml'])} |",
            f"| AMD `machine_end_beep` callback → voicemail REST update at Twilio | "
            f"{_ms(col['voicemail'])} |",
            "",
            "- How: `bench/greeting.py` (`python -m bench greeting`). The bot (`python -m bot "
            "serve`, SQLite) runs in its own process; this process holds the fake Twilio REST "
            "API (the dialer places each call there), plays Twilio at answer (status "
            "`in-progress`, the signed voice-URL request, then the media stream its TwiML "
            "opens: `connected`, `start`, caller silence every 20 ms) and the fake Voice Live, "
            "which starts the greeting's audio at once (no model latency is included: add "
            "the real model's time to first audio).",
            "- Before issue 14.1 the voice webhook held the line with 1 s `<Pause>` + "
            "`<Redirect>` until AMD spoke or `DIALER_AMD_WAIT_S` (4 s) passed: a candidate "
            "heard up to 4 s of silence on top of this figure. Now the stream connects at "
            "answer whatever AMD has said.",
            "",
        ]
    )


def run() -> str:
    """Measure; the Markdown section for docs/benchmarks.md."""
    print(f"bench.greeting: {RUNS} dialed calls", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-greeting-") as tmp:
        log_path = Path(tmp, "bot.log")
        with log_path.open("wb") as log:
            runs = asyncio.run(_measure(tmp, log))
    return render(runs)


if __name__ == "__main__":
    print(run())
