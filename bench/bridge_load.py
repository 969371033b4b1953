"""Load generator for bench.bridge: fake Twilio callers and a fake Voice Live on one clock."""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import functools
import gc
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

import httpx
import numpy as np
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from tests.fakes import audio
from tests.fakes.signing import twilio_signature
from tests.fakes.twilio_media import FakeTwilioCall
from tests.fakes.voicelive import FakeSession, FakeVoiceLive

AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "0" * 32
CALLER = "+14155550142"
BOT_NUMBER = "+15005550006"
RESPONSE_MS = 5000  # the model answers in back-to-back 5 s responses: it never stops speaking
COLLECT_S = 0.5  # how often timestamps are moved out of the fakes' (growing) logs


@functools.cache
def _tone(fmt: str) -> bytes:
    rate = audio.FORMAT_RATES[fmt]
    return audio.encode(audio.tone(440.0, RESPONSE_MS, rate, 0.3), fmt)


def response_audio(index: int, fmt: str) -> bytes:
    """Every response is the same 5 s tone (one shared bytes object)."""
    return _tone(fmt)


def id_frame(index: int) -> bytes:
    """The first caller frame of call `index`: two loud μ-law codes that name the call."""
    return bytes([0x10 + index // 64]) * 80 + bytes([0x90 + index % 64]) * 80


@functools.cache
def _ulaw_table() -> np.ndarray:
    return audio.ulaw_to_linear(bytes(range(256))).astype(np.int64)


def read_id(first_append: bytes, pcm: bool) -> int:
    """Which call an append stream belongs to, from its first append (see id_frame).

    The bot's upsampler passes the 8 kHz samples through (a constant stays constant), so
    the middles of the two halves still hold the two codes, 3 x 8 kHz + 2 ms later.
    """
    if pcm:
        samples = np.frombuffer(first_append, dtype="<i2").astype(np.int64)
        a, b = samples[150], samples[400]
        table = _ulaw_table()
        code_a, code_b = int(np.abs(table - a).argmin()), int(np.abs(table - b).argmin())
    else:
        code_a, code_b = first_append[40], first_append[120]
    return (code_a - 0x10) * 64 + (code_b - 0x90)


@dataclass
class Line:
    """One call's timestamps, as collected from its two fakes."""

    call: FakeTwilioCall
    session: FakeSession | None = None  # found from the first append (see read_id)
    in_sent: list[float] = field(default_factory=list)  # caller media frame sent
    in_recv: list[float] = field(default_factory=list)  # append arrived at Voice Live
    out_sent: list[float] = field(default_factory=list)  # audio delta sent by Voice Live
    out_start: list[float] = field(default_factory=list)  # its first byte, in μ-law bytes
    out_units: float = 0.0  # μ-law bytes of model audio sent so far
    media_at: list[float] = field(default_factory=list)  # media message arrived at Twilio
    media_end: list[float] = field(default_factory=list)  # cumulative μ-law bytes after it
    media_units: float = 0.0

    def collect(self, ratio: float) -> None:
        """Move new timestamps out of the fakes and drop what the fakes keep (memory)."""
        call, session = self.call, self.session
        if session is None:
            return
        for at, event in call.sent_events:
            if event.get("event") == "media":
                self.in_sent.append(at)
        call.sent_events.clear()
        self.in_recv.extend(at for at, _ in session.append_log)
        session.append_log.clear()
        session.received.clear()
        session.received_log.clear()
        session._appended.clear()
        for at, event in session.events_sent:
            if event.get("type") == "response.audio.delta":
                self.out_sent.append(at)
                self.out_start.append(self.out_units)
                delta = event["delta"]
                self.out_units += (len(delta) * 3 // 4 - delta[-2:].count("=")) / ratio
        session.events_sent.clear()
        for at, n in call.media_log:
            self.media_units += n
            self.media_at.append(at)
            self.media_end.append(self.media_units)
        call.media_log.clear()
        call.received_events.clear()
        call._received_audio.clear()
        del call._chunks[:-50]


async def keep_talking(session: FakeSession) -> None:
    """After the greeting (the bot's response.create), start the next response as each ends."""
    while not session.responses:  # noqa: ASYNC110 - the fake offers no event for this
        await asyncio.sleep(0.05)
    while not session.closed.is_set():
        task = session.responses[-1].task
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        if session.closed.is_set():
            return
        await session.start_response()


async def lag_monitor(samples: list[float], period: float = 0.02) -> None:
    """How late the load generator's event loop wakes up (its own scheduling delay)."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + period
        await asyncio.sleep(period)
        samples.append(loop.time() - due)


async def wait_port(port: int, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def answer(client: httpx.AsyncClient, public: str, call_sid: str) -> tuple[str, str]:
    """The voice webhook, signed like Twilio: (stream URL, stream token) from the TwiML."""
    params = {
        "CallSid": call_sid,
        "AccountSid": ACCOUNT_SID,
        "From": CALLER,
        "To": BOT_NUMBER,
        "CallStatus": "ringing",
        "Direction": "inbound",
    }
    sig = twilio_signature(AUTH_TOKEN, f"{public}/twilio/voice", params)
    response = await client.post("/twilio/voice", data=params, headers={"X-Twilio-Signature": sig})
    response.raise_for_status()
    stream = ElementTree.fromstring(response.text).find("./Connect/Stream")
    if stream is None:
        raise RuntimeError(f"no <Stream> in TwiML: {response.text}")
    token = {p.get("name"): p.get("value", "") for p in stream.findall("Parameter")}["token"]
    return stream.get("url", ""), token


def pct(values: list[float], q: float, lost: int = 0) -> float | None:
    """Nearest-rank percentile in ms; `lost` frames count as infinitely late."""
    n = len(values) + lost
    if not n:
        return None
    rank = max(1, int(np.ceil(q / 100 * n)))
    return float(np.sort(values)[rank - 1]) * 1000 if rank <= len(values) else float("inf")


def measure(lines: list[Line], start: float, end: float, ratio: float,
            model_bytes_per_ms: float = 48.0) -> dict[str, Any]:  # fmt: skip
    """Latencies of frames sent inside [start, end): inbound by order, outbound by bytes."""
    inbound: list[float] = []
    outbound: list[float] = []
    lost_in = lost_out = in_relayed = out_sent = 0
    out_relayed = 0.0
    for line in lines:
        lo = bisect.bisect_left(line.in_sent, start)
        hi = bisect.bisect_left(line.in_sent, end)
        for k in range(lo, hi):
            if k < len(line.in_recv):
                inbound.append(line.in_recv[k] - line.in_sent[k])
            else:
                lost_in += 1
        in_relayed += bisect.bisect_left(line.in_recv, end) - bisect.bisect_left(
            line.in_recv, start
        )
        lo = bisect.bisect_left(line.out_sent, start)
        hi = bisect.bisect_left(line.out_sent, end)
        out_sent += hi - lo
        for j in range(lo, hi):
            m = bisect.bisect_right(line.media_end, line.out_start[j] + 1e-6)
            if m < len(line.media_at):
                outbound.append(line.media_at[m] - line.out_sent[j])
            else:
                lost_out += 1
        lo = bisect.bisect_left(line.media_at, start)
        hi = bisect.bisect_left(line.media_at, end)
        if hi > lo:
            out_relayed += line.media_end[hi - 1] - (line.media_end[lo - 1] if lo else 0.0)
    return {
        "in_n": len(inbound),
        "in_p50": pct(inbound, 50, lost_in),
        "in_p99": pct(inbound, 99, lost_in),
        "in_max": max(inbound) * 1000 if inbound else None,
        "out_n": len(outbound),
        "out_p50": pct(outbound, 50, lost_out),
        "out_p99": pct(outbound, 99, lost_out),
        "out_max": max(outbound) * 1000 if outbound else None,
        "lost_in": lost_in,
        "lost_out": lost_out,
        "in_sent_window": len(inbound) + lost_in,  # caller frames the fakes sent
        "in_relayed_window": in_relayed,  # appends that reached Voice Live in the window
        "out_sent_window": out_sent,  # deltas Voice Live sent
        # model audio that reached Twilio (PCM16 24 kHz: 48 bytes a ms; μ-law: 8)
        "out_relayed_ms": out_relayed * ratio / model_bytes_per_ms,
        "negative": sum(x < 0 for x in inbound + outbound),
    }


def say(*words: object) -> None:
    print(*words, flush=True)


async def load(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    pcm = args.mode == "bot" and args.audio_format == "pcm16"
    ratio = 6.0 if pcm else 1.0  # model bytes per μ-law byte the caller gets
    fake = FakeVoiceLive(
        response_audio=response_audio,
        speed=1.0,
        delta_ms=args.delta_ms,
        first_delta_delay_ms=args.delta_ms,
        energy_vad=False,
        transcribe=False,
        check_contract=False,  # the test suite checks the contract; no one reads it here
    )
    await fake.start()
    say("vl", fake.port)
    await wait_port(args.port)
    public = f"http://127.0.0.1:{args.port}"
    ws_url = f"ws://127.0.0.1:{args.port}/twilio/media"
    lines: list[Line] = []
    background: list[asyncio.Task[None]] = []
    talking = 0
    mapped: set[str] = set()

    def collect() -> None:
        nonlocal talking
        for session in fake.sessions[talking:]:
            background.append(asyncio.create_task(keep_talking(session)))
        talking = len(fake.sessions)
        for session in fake.sessions:
            if session.append_log and session.id not in mapped:
                index = read_id(bytes(session._appended[: session.append_log[0][1]]), pcm)
                if 0 <= index < len(lines) and lines[index].session is None:
                    lines[index].session = session
                mapped.add(session.id)
        for line in lines:
            line.collect(ratio)

    async def collector() -> None:
        while True:
            await asyncio.sleep(COLLECT_S)
            collect()

    async def place(client: httpx.AsyncClient, call: FakeTwilioCall) -> None:
        if args.mode == "bot":
            stream_url, token = await answer(client, public, call.call_sid)
            call.custom_parameters["token"] = token
            call.signature_url = stream_url
        await call.connect()
        await call.start()

    background.append(asyncio.create_task(collector()))
    lag: list[float] = []
    background.append(asyncio.create_task(lag_monitor(lag)))
    ramp_start = loop.time()
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=public, timeout=60, limits=limits) as client:
        placing = []
        for i in range(args.calls):
            await asyncio.sleep(max(0.0, ramp_start + i / args.ramp - loop.time()))
            call = FakeTwilioCall(ws_url, AUTH_TOKEN, continuous=True, open_timeout=60)
            call._line_frames.append((id_frame(i), None))  # the call's first frame names it
            lines.append(Line(call))
            placing.append(asyncio.create_task(place(client, call)))
        await asyncio.gather(*placing)
    while not all(line.session for line in lines):
        if loop.time() - ramp_start > 30 + args.calls / args.ramp * 3:
            raise RuntimeError(
                f"calls not all connected to a Voice Live session: {fake.handler_errors!r}"
            )
        await asyncio.sleep(0.05)
    ramp_s = loop.time() - ramp_start
    await asyncio.sleep(args.settle)
    gc.collect()
    lag.clear()
    start = loop.time()
    say("window-start")
    await asyncio.sleep(args.window)
    end = loop.time()
    say("window-end")
    window_lag = list(lag)
    await asyncio.sleep(1.0)  # let frames sent just before the end arrive
    collect()
    ulaw_model = args.mode == "bot" and args.audio_format == "g711_ulaw"
    result = measure(lines, start, end, ratio, 8.0 if ulaw_model else 48.0)
    result.update(
        calls=len(lines),
        ramp_s=ramp_s,
        window_s=end - start,
        delta_ms=args.delta_ms,
        lag_p50=pct(window_lag, 50),
        lag_p99=pct(window_lag, 99),
        lag_max=max(window_lag) * 1000 if window_lag else None,
        protocol_errors=sum(len(line.call.protocol_errors) for line in lines),
        internal_errors=sum(len(line.call.internal_errors) for line in lines)
        + len(fake.handler_errors),
        closed=sum(line.call.closed for line in lines),
        max_buffered_ms=max((line.call.max_buffered_ms for line in lines), default=0.0),
    )
    say("result", json.dumps(result))
    os._exit(0)  # no orderly teardown of hundreds of sockets: the parent kills the bot


def relay_to_model(message: str | bytes, sid: list[str]) -> str | None:
    """The echo relay's whole work on a Twilio message: media becomes an append, `start` a
    response.create (and names the stream in `sid`), the rest is dropped."""
    event = json.loads(message)
    kind = event.get("event")
    if kind == "media":
        return json.dumps({"type": "input_audio_buffer.append", "audio": event["media"]["payload"]})
    if kind == "start":
        sid.append(event["streamSid"])
        return json.dumps({"type": "response.create"})
    return None


def relay_to_caller(message: str | bytes, sid: list[str]) -> str | None:
    """... and on a Voice Live message: an audio delta becomes a Twilio media message."""
    event = json.loads(message)
    if event.get("type") == "response.audio.delta" and sid:
        media = {"payload": event["delta"]}
        return json.dumps({"event": "media", "streamSid": sid[0], "media": media})
    return None


async def relay_call(
    receive: Callable[[], Awaitable[str | bytes]],
    send: Callable[[str], Awaitable[None]],
    vl_port: int,
) -> None:
    """One call of the echo relay: the caller's messages (`receive`) to a Voice Live session
    and its audio back (`send`), until either side ends. Both baselines run this, whatever
    server carries the caller's side."""
    vl_url = f"ws://127.0.0.1:{vl_port}/voice-live/realtime?api-version=2026-07-15&model=m"
    async with connect(
        vl_url, additional_headers={"api-key": "test-key"}, compression=None, max_size=2**24
    ) as vl:
        sid: list[str] = []

        async def up() -> None:
            while True:
                if (out := relay_to_model(await receive(), sid)) is not None:
                    await vl.send(out)

        async def down() -> None:
            async for message in vl:
                if (out := relay_to_caller(message, sid)) is not None:
                    await send(out)

        tasks = [asyncio.create_task(up()), asyncio.create_task(down())]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)


async def relay(args: argparse.Namespace) -> None:
    """The loopback baseline: a trivial relay, JSON in, JSON out, no transcoding or pacing."""

    async def handler(tw: ServerConnection) -> None:
        await relay_call(tw.recv, tw.send, args.vl_port)

    async with serve(handler, "127.0.0.1", args.port, compression=None, max_size=2**20):
        await asyncio.Future()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bridge_load")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("load", help="place calls against the bot (or the relay) and measure")
    p.add_argument("--port", type=int, required=True, help="the bot's (or relay's) port")
    p.add_argument("--mode", choices=("bot", "relay"), default="bot")
    p.add_argument("--calls", type=int, default=1)
    p.add_argument("--ramp", type=float, default=20.0, help="calls opened per second")
    p.add_argument("--settle", type=float, default=3.0, help="seconds after the ramp")
    p.add_argument("--window", type=float, default=20.0, help="measured seconds")
    p.add_argument("--delta-ms", type=int, default=100, help="model audio per delta")
    p.add_argument("--audio-format", default="pcm16", help="the bot's AUDIO_FORMAT")
    p.set_defaults(func=load)
    p = sub.add_parser("relay", help="the trivial echo relay (loopback baseline)")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--vl-port", type=int, required=True)
    p.set_defaults(func=relay)
    args = parser.parse_args(argv)
    asyncio.run(args.func(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
