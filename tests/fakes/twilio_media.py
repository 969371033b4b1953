"""Fake Twilio caller: the Twilio side of a bidirectional Media Streams WebSocket, with playout."""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import math
import secrets
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from .signing import twilio_signature
from .waiting import poll

FRAME_BYTES = 160  # 20 ms of μ-law 8 kHz
FRAME_MS = 20
MULAW_BYTES_PER_S = 8000
SILENCE_FRAME = b"\xff" * FRAME_BYTES

# Twilio warning codes (twilio.md, "Media Streams over WebSocket").
BINARY_FRAME = 31950
INVALID_MESSAGE = 31951

# Exact key sets of what the app may send (twilio.md, "app -> Twilio"); extra/missing => 31951.
_APP_EVENT_KEYS: dict[str, frozenset[str]] = {
    "media": frozenset({"event", "streamSid", "media"}),
    "mark": frozenset({"event", "streamSid", "mark"}),
    "clear": frozenset({"event", "streamSid"}),
}


class ProtocolError(NamedTuple):
    """Something the app sent that Twilio would reject with a warning (not raised)."""

    at: float
    code: int
    reason: str
    raw: str | bytes


class MarkEcho(NamedTuple):
    """A mark sent back to the app."""

    name: str
    at: float
    by_clear: bool


class Clear(NamedTuple):
    """A `clear` from the app: when, and how much audio had been played by then."""

    at: float
    played_ms: float


class PlayedChunk(NamedTuple):
    """One outbound media payload as actually played (cut short by a clear, or still playing)."""

    start: float
    end: float
    n_bytes: int


class Gap(NamedTuple):
    """Silence between two consecutive played chunks."""

    start: float
    end: float
    ms: float


class CallConnectError(Exception):
    """The WebSocket to the app could not be opened; `status` is the HTTP status if refused."""

    def __init__(self, message: str, status: int | None = None, body: bytes = b"") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


@dataclass
class _Chunk:
    start: float
    planned_end: float
    data: bytes
    cut: float | None = None  # set by a clear: playback stopped at this instant

    def played_bytes(self, now: float) -> int:
        end = self.planned_end if self.cut is None else self.cut
        if now >= end:
            if self.cut is None:
                return len(self.data)
            now = end
        if now <= self.start:
            return 0
        return min(len(self.data), math.floor((now - self.start) * MULAW_BYTES_PER_S + 1e-6))


def _new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


class FakeTwilioCall:
    """One phone call as Twilio would stream it to the app, built from shared/docs/twilio.md.

    Sends `connected`/`start`/`media`/`dtmf`/`stop` like Twilio; receives the app's `media`,
    `mark` and `clear`, validating them and playing the audio out on a real-time clock.
    Nothing it receives is raised: protocol problems land in `protocol_errors`.
    """

    def __init__(
        self,
        ws_url: str,
        auth_token: str | None,
        *,
        call_sid: str | None = None,
        stream_sid: str | None = None,
        account_sid: str | None = None,
        custom_parameters: Mapping[str, str] | None = None,
        signature: str | None = None,
        signature_url: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        continuous: bool = False,
        open_timeout: float = 5.0,
    ) -> None:
        self.ws_url = ws_url
        self.auth_token = auth_token
        self.call_sid = call_sid or _new_sid("CA")
        self.stream_sid = stream_sid or _new_sid("MZ")
        self.account_sid = account_sid or _new_sid("AC")
        self.custom_parameters: dict[str, str] = dict(custom_parameters or {})
        self.signature = signature
        self.signature_url = signature_url
        self.extra_headers = dict(extra_headers or {})
        self.continuous = continuous
        self.open_timeout = open_timeout

        self.ws: ClientConnection | None = None
        self.received_events: list[tuple[float, dict[str, Any]]] = []
        self.sent_events: list[tuple[float, dict[str, Any]]] = []
        self.protocol_errors: list[ProtocolError] = []
        self.media_log: list[tuple[float, int]] = []
        self.clears: list[Clear] = []
        self.marks_echoed: list[MarkEcho] = []
        self.max_buffered_ms = 0.0
        self.internal_errors: list[BaseException] = []
        self.started_at: float | None = None
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.closed_at: float | None = None
        self.closed_by_app: bool | None = None

        self._received_audio = bytearray()
        self._seq = 0
        self._chunk = 0
        self._caller_bytes = 0
        self._chunks: list[_Chunk] = []
        self._play_end = 0.0
        self._pending_marks: deque[tuple[str, float]] = deque()
        self._marks_changed = asyncio.Event()
        self._closed = asyncio.Event()
        self._hanging_up = False
        self._line_frames: deque[tuple[bytes, asyncio.Future[None] | None]] = deque()
        self._tasks: list[asyncio.Task[None]] = []
        self._line_task: asyncio.Task[None] | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> FakeTwilioCall:
        return self

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        await self.aclose()
        if exc_type is None and self.internal_errors:
            raise RuntimeError(f"FakeTwilioCall crashed: {self.internal_errors!r}")

    @property
    def _loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    def signature_header(self) -> str | None:
        """The X-Twilio-Signature value to send (None: send no header)."""
        if self.signature is not None:
            return self.signature
        if self.auth_token is None:
            return None
        return twilio_signature(self.auth_token, self.signature_url or self.ws_url)

    async def connect(self) -> FakeTwilioCall:
        """Open the WebSocket (signed like Twilio); raise CallConnectError if refused."""
        headers = dict(self.extra_headers)
        sig = self.signature_header()
        if sig is not None:
            headers["X-Twilio-Signature"] = sig
        try:
            self.ws = await connect(
                self.ws_url,
                additional_headers=headers,
                proxy=None,
                compression=None,
                open_timeout=self.open_timeout,
                max_size=64 * 2**20,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise CallConnectError(
                f"app refused the WebSocket: HTTP {status}", status, exc.response.body or b""
            ) from exc
        except (InvalidHandshake, OSError, TimeoutError) as exc:
            raise CallConnectError(f"could not open the WebSocket: {exc!r}") from exc
        self._spawn(self._receive_loop(self.ws))
        self._spawn(self._mark_worker())
        return self

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        task.add_done_callback(self._task_done)
        self._tasks.append(task)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.internal_errors.append(task.exception())  # type: ignore[arg-type]

    async def aclose(self) -> None:
        """Stop everything; close the socket (code 1000) if still open. Sends no `stop`."""
        self._stop_line()
        if self.ws is not None and not self._closed.is_set():
            self._hanging_up = True
            try:
                await self.ws.close()
            except ConnectionClosed:
                pass
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    # ---- Twilio -> app ---------------------------------------------------------------------

    def _next_seq(self) -> str:
        self._seq += 1
        return str(self._seq)

    async def _send_json(self, event: dict[str, Any]) -> None:
        if self.ws is None:
            raise RuntimeError("connect() first")
        self.sent_events.append((self._loop.time(), event))
        await self.ws.send(json.dumps(event))

    async def start(self) -> None:
        """Send `connected` then `start`, like Twilio right after the upgrade."""
        await self._send_json({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await self._send_json(
            {
                "event": "start",
                "sequenceNumber": self._next_seq(),
                "streamSid": self.stream_sid,
                "start": {
                    "accountSid": self.account_sid,
                    "streamSid": self.stream_sid,
                    "callSid": self.call_sid,
                    "tracks": ["inbound"],
                    "customParameters": dict(self.custom_parameters),
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
            }
        )
        self.started_at = self._loop.time()
        if self.continuous and self._line_task is None:
            self._line_task = self._spawn(self._line())

    async def send_media(self, mulaw: bytes) -> None:
        """One inbound `media` event; `timestamp` = ms of caller audio sent, this chunk included."""
        self._chunk += 1
        self._caller_bytes += len(mulaw)
        await self._send_json(
            {
                "event": "media",
                "sequenceNumber": self._next_seq(),
                "streamSid": self.stream_sid,
                "media": {
                    "track": "inbound",
                    "chunk": str(self._chunk),
                    "timestamp": str(self._caller_bytes * 1000 // MULAW_BYTES_PER_S),
                    "payload": base64.b64encode(mulaw).decode("ascii"),
                },
            }
        )

    async def speak(self, mulaw: bytes, realtime: bool = True) -> None:
        """Send caller audio as 160-byte frames, one per 20 ms (drift-free), or all at once.

        A frame goes out when its 20 ms have elapsed, so 1 s of audio takes 1 s. Stops quietly
        if the socket closes (see `closed`). With `continuous=True` the frames join the line.
        """
        frames = [mulaw[i : i + FRAME_BYTES] for i in range(0, len(mulaw), FRAME_BYTES)]
        if not frames:
            return
        if not realtime:
            for frame in frames:
                if not await self._try_send_media(frame):
                    return
            return
        if self._line_task is not None and not self._line_task.done():
            done: asyncio.Future[None] = self._loop.create_future()
            for frame in frames[:-1]:
                self._line_frames.append((frame, None))
            self._line_frames.append((frames[-1], done))
            await done
            return
        due = self._loop.time()
        for frame in frames:
            due += len(frame) / MULAW_BYTES_PER_S
            await asyncio.sleep(max(0.0, due - self._loop.time()))
            if not await self._try_send_media(frame):
                return

    async def _try_send_media(self, frame: bytes) -> bool:
        if self._closed.is_set():
            return False
        try:
            await self.send_media(frame)
        except ConnectionClosed:
            return False
        return True

    async def send_silence(self, ms: int) -> None:
        """μ-law silence (0xFF) in real time."""
        await self.speak(SILENCE_FRAME[:1] * (ms * MULAW_BYTES_PER_S // 1000))

    async def _line(self) -> None:
        """continuous=True: a frame per 20 ms all call long, speech if queued else silence."""
        due = self._loop.time()
        try:
            while True:
                due += FRAME_MS / 1000
                await asyncio.sleep(max(0.0, due - self._loop.time()))
                frame, done = self._line_frames.popleft() if self._line_frames else (None, None)
                if not await self._try_send_media(frame or SILENCE_FRAME):
                    return
                if done is not None and not done.done():
                    done.set_result(None)
        finally:
            self._release_line_waiters()

    def _release_line_waiters(self) -> None:
        while self._line_frames:
            _, done = self._line_frames.popleft()
            if done is not None and not done.done():
                done.set_result(None)

    def _stop_line(self) -> None:
        if self._line_task is not None:
            self._line_task.cancel()
        self._release_line_waiters()

    async def send_dtmf(self, digit: str) -> None:
        await self._send_json(
            {
                "event": "dtmf",
                "sequenceNumber": self._next_seq(),
                "streamSid": self.stream_sid,
                "dtmf": {"track": "inbound_track", "digit": digit},
            }
        )

    async def send_raw(self, data: str | bytes) -> None:
        """Send any frame as-is (text for str, binary for bytes)."""
        if self.ws is None:
            raise RuntimeError("connect() first")
        await self.ws.send(data)

    async def hangup(self) -> None:
        """The caller hangs up: `stop`, then close the socket."""
        self._stop_line()
        if self.ws is None or self._closed.is_set():
            return
        self._hanging_up = True
        try:
            await self._send_json(
                {
                    "event": "stop",
                    "sequenceNumber": self._next_seq(),
                    "streamSid": self.stream_sid,
                    "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
                }
            )
            await self.ws.close()
        except ConnectionClosed:
            pass
        await self._closed.wait()

    # ---- app -> Twilio ---------------------------------------------------------------------

    async def _receive_loop(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                await self._handle(message)
        except ConnectionClosed:
            pass
        finally:
            self.closed_at = self._loop.time()
            self.close_code = ws.close_code
            self.close_reason = ws.close_reason
            self.closed_by_app = not self._hanging_up
            self._closed.set()
            self._stop_line()
            self._marks_changed.set()

    def _error(self, now: float, code: int, reason: str, raw: str | bytes) -> None:
        self.protocol_errors.append(ProtocolError(now, code, reason, raw))

    async def _handle(self, message: str | bytes) -> None:
        now = self._loop.time()
        if isinstance(message, bytes):
            self._error(now, BINARY_FRAME, "binary frame", message)
            return
        try:
            event = json.loads(message)
        except ValueError:
            self._error(now, INVALID_MESSAGE, "invalid JSON", message)
            return
        if not isinstance(event, dict):
            self._error(now, INVALID_MESSAGE, "message is not a JSON object", message)
            return
        self.received_events.append((now, event))
        kind = event.get("event")
        expected = _APP_EVENT_KEYS.get(kind) if isinstance(kind, str) else None
        if expected is None:
            self._error(now, INVALID_MESSAGE, f"unknown event {kind!r}", message)
            return
        keys = set(event)
        if keys != expected:
            missing, extra = sorted(expected - keys), sorted(keys - expected)
            self._error(now, INVALID_MESSAGE, f"{kind}: missing {missing} extra {extra}", message)
            return
        if event["streamSid"] != self.stream_sid:
            self._error(now, INVALID_MESSAGE, f"{kind}: wrong streamSid", message)
            return
        if kind == "media":
            media = event["media"]
            if not isinstance(media, dict) or set(media) != {"payload"}:
                self._error(now, INVALID_MESSAGE, "media: must be {payload}", message)
                return
            payload = media["payload"]
            try:
                if not isinstance(payload, str):
                    raise ValueError("payload is not a string")
                data = base64.b64decode(payload, validate=True)
            except (ValueError, binascii.Error):
                self._error(now, INVALID_MESSAGE, "media: payload is not base64", message)
                return
            self._queue_audio(now, data)
        elif kind == "mark":
            mark = event["mark"]
            if not isinstance(mark, dict) or set(mark) != {"name"}:
                self._error(now, INVALID_MESSAGE, "mark: must be {name}", message)
                return
            if not isinstance(mark["name"], str):
                self._error(now, INVALID_MESSAGE, "mark: name is not a string", message)
                return
            self._queue_mark(now, mark["name"])
        else:
            await self._clear(now)

    # ---- playout clock ---------------------------------------------------------------------

    def _queue_audio(self, now: float, data: bytes) -> None:
        self._received_audio += data
        self.media_log.append((now, len(data)))
        start = max(now, self._play_end)
        self._play_end = start + len(data) / MULAW_BYTES_PER_S
        self._chunks.append(_Chunk(start, self._play_end, data))
        self.max_buffered_ms = max(self.max_buffered_ms, self.buffered_ms(now))

    def _queue_mark(self, now: float, name: str) -> None:
        self._pending_marks.append((name, max(now, self._play_end)))
        self._marks_changed.set()

    async def _clear(self, now: float) -> None:
        self.clears.append(Clear(now, self.played_ms(now)))
        for chunk in reversed(self._chunks):
            if chunk.cut is not None or chunk.planned_end <= now:
                break
            chunk.cut = max(chunk.start, now)
        self._play_end = min(self._play_end, now)
        pending = list(self._pending_marks)
        self._pending_marks.clear()
        self._marks_changed.set()
        for name, due in pending:
            await self._echo_mark(name, by_clear=due > now)

    async def _echo_mark(self, name: str, by_clear: bool) -> None:
        try:
            await self._send_json(
                {
                    "event": "mark",
                    "sequenceNumber": self._next_seq(),
                    "streamSid": self.stream_sid,
                    "mark": {"name": name},
                }
            )
        except ConnectionClosed:
            return
        self.marks_echoed.append(MarkEcho(name, self._loop.time(), by_clear))

    async def _mark_worker(self) -> None:
        """Echo each pending mark, in order, when the playout clock passes it."""
        while not self._closed.is_set():
            if not self._pending_marks:
                self._marks_changed.clear()
                await self._marks_changed.wait()
                continue
            name, due = self._pending_marks[0]
            delay = due - self._loop.time()
            if delay > 0:
                self._marks_changed.clear()
                try:
                    async with asyncio.timeout(delay):
                        await self._marks_changed.wait()
                except TimeoutError:
                    pass
                continue
            self._pending_marks.popleft()
            await self._echo_mark(name, by_clear=False)

    # ---- observations ----------------------------------------------------------------------

    @property
    def received_audio(self) -> bytes:
        """Every outbound media payload received, decoded and concatenated."""
        return bytes(self._received_audio)

    def played_audio(self, at: float | None = None) -> bytes:
        """μ-law bytes the caller has heard by now (or by loop time `at`)."""
        now = self._loop.time() if at is None else at
        return b"".join(c.data[: c.played_bytes(now)] for c in self._chunks)

    def played_ms(self, at: float | None = None) -> float:
        now = self._loop.time() if at is None else at
        return sum(c.played_bytes(now) for c in self._chunks) * 1000 / MULAW_BYTES_PER_S

    def buffered_ms(self, at: float | None = None) -> float:
        """Audio queued but not yet played."""
        now = self._loop.time() if at is None else at
        return max(0.0, self._play_end - now) * 1000

    @property
    def playback_timeline(self) -> list[PlayedChunk]:
        """Each chunk as played so far: (start, end, n_bytes); unplayed chunks are left out."""
        now = self._loop.time()
        timeline = []
        for c in self._chunks:
            n = c.played_bytes(now)
            if n:
                timeline.append(PlayedChunk(c.start, c.start + n / MULAW_BYTES_PER_S, n))
        return timeline

    def gaps(
        self, min_ms: float = 1.0, *, max_ms: float | None = None, across_clear: bool = False
    ) -> list[Gap]:
        """Silences between consecutive played chunks (starvation), min_ms <= gap <= max_ms.

        Gaps that span a `clear` are expected (barge-in) and left out unless across_clear.
        Gaps between the bot's turns count too: bound them with max_ms or look at a window.
        """
        timeline = self.playback_timeline
        found = []
        for prev, nxt in itertools.pairwise(timeline):
            ms = (nxt.start - prev.end) * 1000
            if ms < min_ms or (max_ms is not None and ms > max_ms):
                continue
            spans_clear = any(prev.end - 1e-6 <= c.at <= nxt.start for c in self.clears)
            if spans_clear and not across_clear:
                continue
            found.append(Gap(prev.end, nxt.start, ms))
        return found

    def events(self, kind: str) -> list[dict[str, Any]]:
        """Received events of one kind (`media`, `mark`, `clear`), valid or not."""
        return [e for _, e in self.received_events if e.get("event") == kind]

    def describe(self) -> str:
        counts: dict[str, int] = {}
        for _, e in self.received_events:
            counts[str(e.get("event"))] = counts.get(str(e.get("event")), 0) + 1
        closed = f"closed code={self.close_code}" if self.closed else "open"
        return (
            f"received={counts} played_ms={self.played_ms():.0f} "
            f"buffered_ms={self.buffered_ms():.0f} "
            f"marks_echoed={[m.name for m in self.marks_echoed]} "
            f"clears={len(self.clears)} protocol_errors={self.protocol_errors[-3:]} {closed}"
        )

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109
        what: str | None = None,
    ) -> None:
        """Poll `predicate` every 5 ms; TimeoutError naming the condition and the call's state."""
        await poll(predicate, timeout, what, lambda: f"\ncall state: {self.describe()}")

    async def wait_closed(self, timeout: float = 5.0) -> int | None:  # noqa: ASYNC109
        """Wait until the socket is closed (by the app, typically); returns close_code."""
        try:
            async with asyncio.timeout(timeout):
                await self._closed.wait()
        except TimeoutError:
            raise TimeoutError(
                f"socket still open after {timeout}s; call state: {self.describe()}"
            ) from None
        return self.close_code
