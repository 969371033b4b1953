"""One accepted fake Voice Live connection: its state, what it received and sent, the
dispatch of client events to the mixins that answer them (config, items, vad, responses,
output), stalls and expiry, and waiting helpers for tests."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed

from tests.contract import record
from tests.contract.voicelive import check_client_event, check_server_event

from ..waiting import poll
from .config import SessionConfig
from .items import InputAndItems
from .output import ResponseOutput
from .reference import DEFAULT_SESSION, new_id
from .responses import FakeResponse, Responses
from .vad import TurnDetection

if TYPE_CHECKING:
    from .server import FakeVoiceLive

# client event type -> the method answering it
HANDLERS = {
    "session.update": "_on_session_update",
    "input_audio_buffer.append": "_on_append",
    "input_audio_buffer.commit": "_on_commit",
    "input_audio_buffer.clear": "_on_buffer_clear",
    "conversation.item.create": "_on_item_create",
    "conversation.item.delete": "_on_item_delete",
    "conversation.item.truncate": "_on_truncate",
    "response.create": "_on_response_create",
    "response.cancel": "_on_response_cancel",
}


def _swallow(data: bytes) -> None:
    """Bytes a stalled session receives and never reads."""


class FakeSession(SessionConfig, InputAndItems, TurnDetection, Responses, ResponseOutput):
    """One accepted Voice Live connection: records everything, answers like the service."""

    def __init__(self, server: FakeVoiceLive, ws: ServerConnection) -> None:
        self.server = server
        self.ws = ws
        request = ws.request
        assert request is not None
        parts = urlsplit(request.path)
        self.request_path = parts.path
        self.query: dict[str, str] = dict(parse_qsl(parts.query, keep_blank_values=True))
        self.headers = Headers(request.headers)
        self.agent_mode = "model" not in self.query
        self.id = new_id("sess_")
        self.config: dict[str, Any] = copy.deepcopy(DEFAULT_SESSION)
        self.config.update(
            {
                "id": self.id,
                "model": self.query.get("model"),
                "expires_at": int(time.time() + server.session_ttl_s),
            }
        )

        self.received: list[dict[str, Any]] = []
        self.received_log: list[tuple[float, dict[str, Any]]] = []
        self.events_sent: list[tuple[float, dict[str, Any]]] = []
        self.appended_at_send: list[int] = []  # bytes appended so far, as each event was sent
        self.append_log: list[tuple[float, int]] = []
        self.truncates: list[dict[str, Any]] = []
        self.cancels: list[dict[str, Any]] = []
        self.responses: list[FakeResponse] = []
        self.items: dict[str, dict[str, Any]] = {}
        self.calls: dict[str, dict[str, Any]] = {}  # function_call items announced, by call_id
        self.tool_outputs: dict[str, str] = {}  # function_call_output the client sent, by call_id
        self.creates_while_active: list[dict[str, Any]] = []  # response.create, one was active
        self.config_errors: list[dict[str, Any]] = []  # errors answering a session.update
        self.closed = asyncio.Event()
        self.closed_at: float | None = None  # loop time the connection was gone
        self.stalled_at: float | None = None  # loop time stall() was called
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.appended_ms = 0.0  # ms of audio appended since the session started
        self.expired_at: float | None = None

        self._appended = bytearray()
        self._buffer_bytes = 0  # appended since the last commit/clear
        self._last_item_id: str | None = None
        self._active: FakeResponse | None = None
        self._utterances = 0
        # energy VAD state
        self._vad_residual = np.zeros(0)
        self._vad_format: str | None = None
        self._vad_pos_ms = 0.0
        self._loud_ms = 0
        self._quiet_ms = 0
        self._onset_ms = 0.0
        self._speech_end_ms = 0.0
        self._in_speech = False
        self._speech_item_id: str | None = None

    # ---- plumbing --------------------------------------------------------------------------

    @property
    def _loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    @property
    def appended_audio(self) -> bytes:
        """All audio from input_audio_buffer.append, decoded from base64, in arrival order."""
        return bytes(self._appended)

    @property
    def active_response(self) -> FakeResponse | None:
        return self._active

    async def run(self) -> None:
        expiry = None
        if self.server.enforce_ttl:
            expiry = self._loop.call_later(
                self.server.session_ttl_s, lambda: asyncio.ensure_future(self.expire())
            )
        try:
            await self._emit({"type": "session.created", "session": self._session_view()})
            async for message in self.ws:
                await self._on_message(message)
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.close_reason = self.ws.close_reason
            self.closed_at = self._loop.time()
            self.closed.set()
            if expiry is not None:
                expiry.cancel()
            for response in self.responses:
                if response.task is not None:
                    response.task.cancel()

    async def _emit(self, event: dict[str, Any]) -> dict[str, Any]:
        """Send a server event, adding an event_id after its type."""
        event = {"type": event["type"], "event_id": new_id("event_"), **event}
        await self.send(event)
        return event

    async def send(self, event: dict[str, Any]) -> None:
        """Send anything as a JSON text frame, as-is (unknown types, warnings, ...).

        Function calls announced this way (hand-made events) count as known call_ids."""
        if self.stalled_at is not None:  # a hung service says nothing
            return
        self._note_call(event)
        if self.server.check_contract:
            check_server_event(event, "fake Voice Live -> bot")
        self.events_sent.append((self._loop.time(), event))
        self.appended_at_send.append(len(self._appended))
        await self.ws.send(json.dumps(event))

    def _note_call(self, event: dict[str, Any]) -> None:
        item = event.get("item")
        if isinstance(item, dict) and item.get("type") == "function_call" and item.get("call_id"):
            self.calls.setdefault(str(item["call_id"]), item)
        elif event.get("type", "").startswith("response.function_call_arguments") and isinstance(
            event.get("call_id"), str
        ):
            self.calls.setdefault(event["call_id"], {"call_id": event["call_id"]})
        response = event.get("response")
        if isinstance(response, dict) and isinstance(response.get("output"), list):
            for out in response["output"]:
                if isinstance(out, dict) and out.get("type") == "function_call":
                    if out.get("call_id"):
                        self.calls.setdefault(str(out["call_id"]), out)

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send(data)

    async def send_error(
        self,
        code: str | None,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        param: str | None = None,
        event_id: str | None = None,
    ) -> None:
        """An `error` event; the session stays open (close() separately, e.g. session_expired)."""
        await self._emit(
            {
                "type": "error",
                "error": {
                    "type": error_type,
                    "code": code,
                    "message": message,
                    "param": param,
                    "event_id": event_id,
                },
            }
        )

    async def close(self, code: int = 1001, reason: str = "") -> None:
        await self.ws.close(code, reason)

    def stall(self) -> None:
        """The service hangs without closing (a hung server, a dead path): from now on every
        byte the client sends is swallowed unread (so no pong answers a ping, and no event is
        recorded), nothing more is sent, and the TCP connection stays open until the client
        drops it (`closed_at`). The client's sends still succeed, as into a kernel buffer."""
        if self.stalled_at is not None or self.closed.is_set():
            return
        self.stalled_at = self._loop.time()
        # websockets answers pings in the protocol, as bytes arrive: bytes never parsed get
        # no pong. The transport still reads, so a reset or EOF from the client is seen.
        self.ws.data_received = _swallow  # type: ignore[method-assign]
        for response in self.responses:
            if response.task is not None:
                response.task.cancel()

    async def expire(self) -> None:
        """The session hit its time limit, as reported for the service: `error`
        {code: session_expired}, then close 1001."""
        if self.closed.is_set():
            return
        self.expired_at = self._loop.time()
        with contextlib.suppress(ConnectionClosed):
            await self.send_error(
                "session_expired",
                "Your session hit the maximum duration of 60 minutes.",
                error_type="invalid_request_error",
            )
        await self.close(1001, "session expired")

    # ---- client events ---------------------------------------------------------------------

    async def _on_message(self, message: str | bytes) -> None:
        if self.stalled_at is not None:  # read before the stall, never looked at
            return
        if self.server.check_contract:
            self._check_contract(message)
        if isinstance(message, bytes):
            await self.send_error("invalid_event", "Binary frames are not supported; send JSON.")
            return
        try:
            event = json.loads(message)
        except ValueError as exc:
            await self.send_error("invalid_json", f"Invalid JSON: {exc}")
            return
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            await self.send_error("invalid_event", "Event must be an object with a 'type'.")
            return
        self.received.append(event)
        self.received_log.append((self._loop.time(), event))
        handler = HANDLERS.get(event["type"])
        if handler is None:
            await self.send_error(
                "invalid_event",
                f"Unknown event type {event['type']!r}.",
                param="type",
                event_id=event.get("event_id"),
            )
            return
        await getattr(self, handler)(event)

    def _check_contract(self, message: str | bytes) -> None:
        """The client's frame against the SDK's models: a JSON text frame with a known event."""
        source = "bot -> fake Voice Live"
        if isinstance(message, bytes):
            record(source, "binary frame", ["<root>: Voice Live takes JSON text frames"], "")
            return
        try:
            event = json.loads(message)
        except ValueError:
            record(source, "frame", ["<root>: not JSON"], message)
            return
        check_client_event(event, source)

    async def _reject(self, event: dict[str, Any], code: str, message: str, param: str) -> None:
        await self.send_error(code, message, param=param, event_id=event.get("event_id"))

    # ---- waiting ---------------------------------------------------------------------------

    def events_of(self, kind: str) -> list[dict[str, Any]]:
        """Client events of one type received so far."""
        return [e for e in self.received if e.get("type") == kind]

    def sent_of(self, kind: str) -> list[dict[str, Any]]:
        """Server events of one type sent so far."""
        return [e for _, e in self.events_sent if e.get("type") == kind]

    def describe(self) -> str:
        kinds = [e.get("type") for e in self.received[-8:]]
        return (
            f"session {self.id}: last received {kinds}, responses "
            f"{[(r.id, r.status) for r in self.responses]}, closed={self.closed.is_set()}"
        )

    async def wait_event(
        self,
        kind: str,
        timeout: float = 5.0,  # noqa: ASYNC109
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        *,
        skip: int = 0,
    ) -> dict[str, Any]:
        """Wait for a client event of type `kind` (past ones count); skip the first `skip`."""
        deadline = self._loop.time() + timeout
        while True:
            matches = [e for e in self.events_of(kind) if predicate is None or predicate(e)]
            if len(matches) > skip:
                return matches[skip]
            if self._loop.time() >= deadline:
                raise TimeoutError(
                    f"no {kind!r} event #{skip + 1} within {timeout}s; {self.describe()}"
                )
            await asyncio.sleep(0.005)

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109
        what: str | None = None,
    ) -> None:
        await poll(predicate, timeout, what, lambda: f"; {self.describe()}")
