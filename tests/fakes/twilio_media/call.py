"""One fake phone call as Twilio would stream it to the app: the connection (signed like
Twilio), what it receives from the app checked like Twilio, and waiting helpers for tests."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from ..signing import twilio_signature
from ..waiting import poll
from .caller import Caller
from .playout import Chunk, Playout
from .protocol import (
    APP_EVENT_KEYS,
    BINARY_FRAME,
    INVALID_MESSAGE,
    CallConnectError,
    Clear,
    MarkEcho,
    ProtocolError,
    new_sid,
)


class FakeTwilioCall(Caller, Playout):
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
        self.call_sid = call_sid or new_sid("CA")
        self.stream_sid = stream_sid or new_sid("MZ")
        self.account_sid = account_sid or new_sid("AC")
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
        self._chunks: list[Chunk] = []
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
        expected = APP_EVENT_KEYS.get(kind) if isinstance(kind, str) else None
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
