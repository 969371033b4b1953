"""Fake Azure Voice Live realtime server (OpenAI Realtime preview events) built from the docs."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import json
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tests.contract import record
from tests.contract.voicelive import check_client_event, check_server_event

from . import audio
from .waiting import poll

REALTIME_PATH = "/voice-live/realtime"
MAX_APPEND_BYTES = 15 * 2**20  # "One append may carry up to 15 MiB"
INPUT_FORMATS = ("pcm16", "g711_ulaw", "g711_alaw")
OUTPUT_FORMATS = tuple(audio.FORMAT_RATES)
TURN_DETECTION_TYPES = ("server_vad", "azure_semantic_vad", "azure_semantic_vad_multilingual")
# input_audio_transcription models by realtime model (the reference: "which models are allowed
# DEPENDS ON THE REALTIME MODEL of the session")
OPENAI_TRANSCRIPTION_MODELS = (
    "whisper-1",
    "gpt-4o-transcribe",
    "gpt-4o-mini-transcribe",
    "gpt-4o-transcribe-diarize",
    "mai-transcribe",
)
AZURE_TRANSCRIPTION_MODELS = ("azure-speech",)
PRE_GENERATED_MIN_MS = 300

# Effective settings of a fresh session. Values the docs give are used; the rest are marked.
DEFAULT_SESSION: dict[str, Any] = {
    "modalities": ["text", "audio"],
    "instructions": "",
    "voice": "alloy",  # unconfirmed default
    "input_audio_format": "pcm16",
    "input_audio_sampling_rate": 24000,
    "output_audio_format": "pcm16",
    "turn_detection": {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 0,  # not documented; 0 so audio_start_ms is the onset itself
        "silence_duration_ms": 500,
        "create_response": True,
        "interrupt_response": True,
        "auto_truncate": False,
    },
    "input_audio_noise_reduction": None,
    "input_audio_echo_cancellation": None,
    "input_audio_transcription": None,
    "tools": [],
    "tool_choice": "auto",
    "temperature": 0.8,
    "max_response_output_tokens": "inf",
}


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(10)


def _swallow(data: bytes) -> None:
    """Bytes a stalled session receives and never reads."""


def default_response_audio(index: int, fmt: str) -> bytes:
    """1.5 s sine at 400 + 150*index Hz, amplitude 0.3, in `fmt` at that format's rate."""
    rate = audio.FORMAT_RATES[fmt]
    return audio.encode(audio.tone(400.0 + 150.0 * index, 1500, rate, 0.3), fmt)


def default_response_text(index: int) -> str:
    return f"This is assistant response {index}."


def default_caller_transcript(index: int) -> str:
    return f"caller utterance {index}"


def is_openai_realtime(model: str | None) -> bool:
    """gpt-realtime, gpt-realtime-mini and other OpenAI realtime models (not cascaded models
    such as gpt-4.1 or phi4-mini, nor agents)."""
    return bool(model) and (model.startswith("gpt-realtime") or "realtime" in model)


def transcription_models(model: str | None) -> tuple[str, ...]:
    """The input_audio_transcription models a session with this realtime model accepts."""
    return OPENAI_TRANSCRIPTION_MODELS if is_openai_realtime(model) else AZURE_TRANSCRIPTION_MODELS


def spoken_audio(text: str, index: int, fmt: str, ms_per_char: float = 60.0) -> bytes:
    """Synthetic speech for a fixed text: the tone of default_response_audio(index), lasting
    ms_per_char per character (at least PRE_GENERATED_MIN_MS)."""
    rate = audio.FORMAT_RATES[fmt]
    ms = max(PRE_GENERATED_MIN_MS, round(ms_per_char * len(text)))
    return audio.encode(audio.tone(400.0 + 150.0 * index, ms, rate, 0.3), fmt)


def _has_path(update: dict[str, Any], dotted: str) -> bool:
    """Whether a session.update event's body contains `dotted` ("session.voice", ...)."""
    parts = dotted.split(".")
    if parts and parts[0] == "session":
        parts = parts[1:]
    node: Any = update
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return bool(parts)


@dataclass
class Handshake:
    """One upgrade attempt and the HTTP status the fake answered (101 = accepted)."""

    at: float
    path: str
    query: dict[str, str]
    headers: Headers
    status: int


@dataclass
class FakeResponse:
    """One response as the fake produced it."""

    id: str
    item_id: str
    index: int
    output_format: str
    audio: bytes
    transcript: str
    request: dict[str, Any] | None  # the client's response.create, None if server-initiated
    triggered_at: float
    status: str = "in_progress"
    status_details: dict[str, Any] | None = None
    audio_bytes_sent: int = 0
    deltas_sent: int = 0
    transcript_sent: str = ""
    created_at: float | None = None
    first_delta_at: float | None = None
    last_delta_at: float | None = None
    done_at: float | None = None
    cancel_reason: str | None = None
    interrupted_at: float | None = None
    deltas_after_interrupt: int = 0
    audio_finished: bool = False
    late_budget: int = 0
    # function calls this response carries: {"name", "call_id", "arguments", "item_id"}
    calls: list[dict[str, Any]] = field(default_factory=list)
    name_on_done: bool = False
    speaks: bool = True  # has an assistant message with audio (False: function calls only)
    pre_generated: str | None = None  # the text of pre_generated_assistant_message, if any
    failure: dict[str, Any] | None = None  # {type, code, message}: the response fails
    output: list[dict[str, Any]] = field(default_factory=list)  # response.done's output
    usage: dict[str, Any] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def audio_ms_sent(self) -> float:
        return self.audio_bytes_sent / audio.bytes_per_ms(self.output_format)

    @property
    def audio_ms(self) -> float:
        return len(self.audio) / audio.bytes_per_ms(self.output_format)


class FakeVoiceLive:
    """A Voice Live endpoint on 127.0.0.1 (`endpoint` = http://127.0.0.1:PORT)."""

    def __init__(
        self,
        *,
        api_key: str | None = "test-key",
        bearer_token_check: Callable[[str], bool] | None = None,
        refuse_status: int | None = None,
        response_audio: Callable[[int, str], bytes] | None = None,
        response_text: Callable[[int], str] | None = None,
        caller_transcript: Callable[[int], str] | None = None,
        delta_ms: int = 100,
        speed: float = 4.0,
        first_delta_delay_ms: float = 50.0,
        created_delay_ms: float = 0.0,
        late_deltas_after_interrupt: int = 2,
        late_deltas_after_cancel: int = 0,
        energy_vad: bool = True,
        vad_rms_threshold: float = 0.02,
        vad_min_speech_ms: int = 60,
        transcribe: bool | None = None,
        session_ttl_s: float = 3600,
        enforce_ttl: bool = False,
        refuse_params: set[str] | None = None,
        refuse_session_params: set[str] | None = None,
        cached_tokens: int = 0,
        cached_details: bool = True,
        pre_generated_ms_per_char: float | None = None,
        check_contract: bool = True,
    ) -> None:
        self.api_key = api_key
        # Every client event received and server event sent is checked against the SDK's
        # models (tests/contract); False only where a test sends malformed events on purpose.
        self.check_contract = check_contract
        self.bearer_token_check = bearer_token_check
        self.refuse_status = refuse_status
        self.response_audio = response_audio or default_response_audio
        self.response_text = response_text or default_response_text
        self.caller_transcript = caller_transcript or default_caller_transcript
        self.delta_ms = delta_ms
        self.speed = speed
        self.first_delta_delay_ms = first_delta_delay_ms
        # The service's latency from response.create to response.created; meanwhile the
        # response counts as active (another response.create is refused).
        self.created_delay_ms = created_delay_ms
        self.late_deltas_after_interrupt = late_deltas_after_interrupt
        self.late_deltas_after_cancel = late_deltas_after_cancel
        self.energy_vad = energy_vad
        self.vad_rms_threshold = vad_rms_threshold
        self.vad_min_speech_ms = vad_min_speech_ms
        self.transcribe = transcribe
        self.session_ttl_s = session_ttl_s
        self.enforce_ttl = enforce_ttl  # sessions expire on their own after session_ttl_s
        self.accept_delay_s = 0.0
        # session.update bodies containing one of these dotted paths ("session.voice",
        # "session.input_audio_noise_reduction", ...) are refused with that param
        self.refuse_params: set[str] = set(refuse_params or ()) | set(refuse_session_params or ())
        self.cached_tokens = cached_tokens  # usage.input_token_details.cached_tokens (capped)
        self.cached_details = cached_details  # False: no cached_tokens_details (the API example)
        self.pre_generated_ms_per_char = pre_generated_ms_per_char
        self.failed_responses = 0  # responses that ended with status failed
        self._failures: list[dict[str, Any]] = []

        self.sessions: list[FakeSession] = []
        self.handshakes: list[Handshake] = []
        self.handler_errors: list[BaseException] = []
        self.port: int | None = None
        self._server: Server | None = None

    async def __aenter__(self) -> FakeVoiceLive:
        await self.start()
        return self

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        await self.stop()
        if exc_type is None and self.handler_errors:
            raise RuntimeError(f"FakeVoiceLive crashed: {self.handler_errors!r}")

    async def start(self) -> None:
        self._server = await serve(
            self._handler,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            max_size=32 * 2**20,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close every session (1001) and the listener."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, api_version: str = "2026-07-15", model: str = "gpt-realtime") -> str:
        return f"ws://127.0.0.1:{self.port}{REALTIME_PATH}?api-version={api_version}&model={model}"

    def fail_responses(
        self,
        n: int,
        *,
        code: str = "rate_limit_exceeded",
        error_type: str = "rate_limit_error",
        message: str = "Rate limit reached for requests. Please try again later.",
    ) -> None:
        """The next n responses (client-requested or server-initiated, in any session) fail:
        response.created, then response.done {status: failed} without any output."""
        error = {"type": error_type, "code": code, "message": message}
        self._failures.extend(dict(error) for _ in range(n))

    def _take_failure(self) -> dict[str, Any] | None:
        return self._failures.pop(0) if self._failures else None

    def _check_request(self, path: str, query: dict[str, str], headers: Headers) -> int | None:
        if self.refuse_status is not None:
            return self.refuse_status
        if path != REALTIME_PATH or not query.get("api-version"):
            return 404
        agent_mode = bool(query.get("agent-name") and query.get("agent-project-name"))
        if not query.get("model") and not agent_mode:
            return 404
        if self.api_key is None and self.bearer_token_check is None:
            return None
        if self.api_key is not None and self.api_key in headers.get_all("api-key"):
            return None
        if self.bearer_token_check is not None:
            for value in headers.get_all("Authorization"):
                scheme, _, token = value.partition(" ")
                if scheme.lower() == "bearer" and token and self.bearer_token_check(token.strip()):
                    return None
        return 401

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        if self.accept_delay_s:  # a slow service: the upgrade answer comes this much later
            await asyncio.sleep(self.accept_delay_s)
        parts = urlsplit(request.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        status = self._check_request(parts.path, query, request.headers)
        loop_time = asyncio.get_running_loop().time()
        headers = Headers(request.headers)
        self.handshakes.append(Handshake(loop_time, request.path, query, headers, status or 101))
        if status is None:
            return None
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Refused"
        return connection.respond(status, f"{status} {phrase}\n")

    async def _handler(self, ws: ServerConnection) -> None:
        session = FakeSession(self, ws)
        self.sessions.append(session)
        try:
            await session.run()
        except Exception as exc:
            self.handler_errors.append(exc)
            raise

    async def wait_for_session(
        self,
        n: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> FakeSession:
        """Wait until n sessions have connected; return the n-th (1-based)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.sessions) < n:
            if asyncio.get_running_loop().time() >= deadline:
                raise TimeoutError(
                    f"{len(self.sessions)} session(s) after {timeout}s, wanted {n}; "
                    f"handshakes: {[(h.path, h.status) for h in self.handshakes]}"
                )
            await asyncio.sleep(0.005)
        return self.sessions[n - 1]


class FakeSession:
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
        self.id = _new_id("sess_")
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
        event = {"type": event["type"], "event_id": _new_id("event_"), **event}
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

    def _session_view(self) -> dict[str, Any]:
        return copy.deepcopy(self.config)

    @property
    def _turn_detection(self) -> dict[str, Any] | None:
        td = self.config.get("turn_detection")
        return td if isinstance(td, dict) else None

    def _td_flag(self, name: str) -> bool:
        """create_response / interrupt_response: anything but an explicit false is true."""
        return (self._turn_detection or {}).get(name, True) is not False

    def _input_rate(self) -> int:
        fmt = self.config.get("input_audio_format", "pcm16")
        if fmt != "pcm16":
            return 8000
        return int(self.config.get("input_audio_sampling_rate") or 24000)

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
        handler = self._handlers.get(event["type"])
        if handler is None:
            await self.send_error(
                "invalid_event",
                f"Unknown event type {event['type']!r}.",
                param="type",
                event_id=event.get("event_id"),
            )
            return
        await handler(self, event)

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

    async def _on_session_update(self, event: dict[str, Any]) -> None:
        update = event.get("session")
        if not isinstance(update, dict):
            await self._reject(event, "invalid_value", "'session' must be an object.", "session")
            return
        problem = self._validate_session(update)
        if problem is not None:
            await self._reject(event, "invalid_value", problem[1], f"session.{problem[0]}")
            return
        refusal = self._refused_part(update)
        if refusal is not None:  # the whole update is not applied
            param, message = refusal
            self.config_errors.append({"param": param, "event_id": event.get("event_id")})
            await self._reject(event, "invalid_value", message, param)
            return
        update = copy.deepcopy(update)
        fmt_before = self.config.get("input_audio_format")
        self.config.update(update)
        fmt = self.config.get("input_audio_format")
        if "input_audio_sampling_rate" not in update and fmt != fmt_before:
            self.config["input_audio_sampling_rate"] = 24000 if fmt == "pcm16" else 8000
        await self._emit({"type": "session.updated", "session": self._session_view()})

    def _refused_part(self, update: dict[str, Any]) -> tuple[str, str] | None:
        """(param, message) for a combination the service does not support, per model."""
        model = self.query.get("model")
        shown = model or f"agent {self.query.get('agent-name')!r}"
        for dotted in sorted(self.server.refuse_params):
            if _has_path(update, dotted):
                return dotted, f"{dotted} is not supported for model {shown}."
        transcription = update.get("input_audio_transcription")
        if isinstance(transcription, dict):
            wanted = transcription.get("model")
            allowed = transcription_models(model)
            if wanted not in allowed:
                return (
                    "session.input_audio_transcription.model",
                    f"Transcription model {wanted!r} is not supported with model {shown}; "
                    f"supported: {', '.join(allowed)}.",
                )
        td = update.get("turn_detection")
        if (
            isinstance(td, dict)
            and td.get("end_of_utterance_detection") is not None
            and is_openai_realtime(model)
        ):
            return (
                "session.turn_detection.end_of_utterance_detection",
                f"end_of_utterance_detection is not supported with model {shown}.",
            )
        return None

    def _validate_session(self, update: dict[str, Any]) -> tuple[str, str] | None:
        modalities = update.get("modalities")
        if modalities is not None:
            if not isinstance(modalities, list) or not set(modalities) <= {"text", "audio"}:
                return "modalities", "modalities must be a list of 'text' and 'audio'."
            if "audio" in modalities and "text" not in modalities:
                return "modalities", "['audio'] alone is not allowed; use ['text', 'audio']."
        if self.agent_mode and "instructions" in update:
            return "instructions", "instructions are not allowed in agent mode."
        in_fmt = update.get("input_audio_format", self.config.get("input_audio_format"))
        if in_fmt not in INPUT_FORMATS:
            return "input_audio_format", f"Unsupported input_audio_format {in_fmt!r}."
        out_fmt = update.get("output_audio_format", self.config.get("output_audio_format"))
        if out_fmt not in OUTPUT_FORMATS:
            return "output_audio_format", f"Unsupported output_audio_format {out_fmt!r}."
        if "input_audio_sampling_rate" in update:
            rate = update["input_audio_sampling_rate"]
            allowed = (24000, 16000) if in_fmt == "pcm16" else (8000,)
            if rate not in allowed:
                return "input_audio_sampling_rate", f"{rate!r} not allowed with {in_fmt}."
        if "turn_detection" in update:
            td = update["turn_detection"]
            if td is not None and (
                not isinstance(td, dict) or td.get("type") not in TURN_DETECTION_TYPES
            ):
                return "turn_detection", "turn_detection must be null or have a known type."
        return None

    async def _on_append(self, event: dict[str, Any]) -> None:
        payload = event.get("audio")
        try:
            if not isinstance(payload, str):
                raise ValueError("audio is not a string")
            data = base64.b64decode(payload, validate=True)
        except (ValueError, binascii.Error):
            await self._reject(event, "invalid_value", "'audio' must be base64.", "audio")
            return
        if len(data) > MAX_APPEND_BYTES:
            await self._reject(event, "invalid_value", "Append exceeds 15 MiB.", "audio")
            return
        fmt = self.config.get("input_audio_format", "pcm16")
        rate = self._input_rate()
        self._appended += data
        self._buffer_bytes += len(data)
        self.append_log.append((self._loop.time(), len(data)))
        start_ms = self.appended_ms
        self.appended_ms += len(data) / audio.bytes_per_ms(fmt, rate)
        if self.server.energy_vad and self._turn_detection is not None:
            await self._vad(audio.decode(data, fmt), fmt, rate, start_ms)

    async def _on_commit(self, event: dict[str, Any]) -> None:
        if self._buffer_bytes == 0:
            await self._reject(
                event, "input_audio_buffer_commit_empty", "The input audio buffer is empty.", ""
            )
            return
        item_id = self._speech_item_id or _new_id("item_")
        self._reset_speech()
        await self._finish_user_turn(item_id, audio_end_ms=None, transcript=None, respond=False)

    async def _on_buffer_clear(self, event: dict[str, Any]) -> None:
        self._buffer_bytes = 0
        self._reset_speech()
        await self._emit({"type": "input_audio_buffer.cleared"})

    async def _on_item_create(self, event: dict[str, Any]) -> None:
        item = event.get("item")
        if not isinstance(item, dict) or item.get("type") not in (
            "message",
            "function_call",
            "function_call_output",
        ):
            await self._reject(event, "invalid_value", "Unsupported or missing item.", "item")
            return
        if item.get("type") == "message" and item.get("role") not in (
            "system",
            "user",
            "assistant",
        ):
            await self._reject(event, "invalid_value", "Unknown message role.", "item.role")
            return
        if item.get("type") == "function_call_output" and item.get("call_id") not in self.calls:
            await self._reject(
                event,
                "invalid_value",
                f"No function call with call_id {item.get('call_id')!r} in this conversation.",
                "item.call_id",
            )
            return
        item = copy.deepcopy(item)
        item.setdefault("id", _new_id("item_"))
        if item["id"] in self.items:
            await self._reject(event, "invalid_value", "Duplicate item id.", "item.id")
            return
        if item["type"] == "function_call" and isinstance(item.get("call_id"), str):
            self.calls.setdefault(item["call_id"], item)
        if item["type"] == "function_call_output":
            self.tool_outputs[item["call_id"]] = item.get("output")
        item.setdefault("object", "realtime.item")
        if item["type"] != "function_call_output":  # the SDK's output item has no status
            item.setdefault("status", "completed")
        self.items[item["id"]] = {"item": item, "role": item.get("role"), "audio_ms": 0.0}
        previous = self._last_item_id
        self._last_item_id = item["id"]
        await self._emit(
            {"type": "conversation.item.created", "previous_item_id": previous, "item": item}
        )

    async def _on_item_delete(self, event: dict[str, Any]) -> None:
        item_id = event.get("item_id")
        if item_id not in self.items:
            await self._reject(event, "item_not_found", f"No item {item_id!r}.", "item_id")
            return
        del self.items[item_id]
        await self._emit({"type": "conversation.item.deleted", "item_id": item_id})

    async def _on_truncate(self, event: dict[str, Any]) -> None:
        self.truncates.append(event)
        item_id = event.get("item_id")
        content_index = event.get("content_index")
        end_ms = event.get("audio_end_ms")
        entry = self.items.get(item_id) if isinstance(item_id, str) else None
        if entry is None:
            await self._reject(event, "item_not_found", f"No item {item_id!r}.", "item_id")
            return
        if entry["role"] != "assistant":
            await self._reject(
                event, "invalid_value", "Only assistant audio can be truncated.", "item_id"
            )
            return
        if content_index != 0:
            await self._reject(event, "invalid_value", "content_index must be 0.", "content_index")
            return
        if not isinstance(end_ms, int) or isinstance(end_ms, bool) or end_ms < 0:
            await self._reject(
                event, "invalid_value", "audio_end_ms must be an integer >= 0.", "audio_end_ms"
            )
            return
        if end_ms > entry["audio_ms"] + 1e-9:
            await self._reject(
                event,
                "invalid_value",
                f"audio_end_ms {end_ms} is beyond the item's audio ({entry['audio_ms']:.1f} ms).",
                "audio_end_ms",
            )
            return
        entry["truncated_ms"] = end_ms
        await self._emit(
            {
                "type": "conversation.item.truncated",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": end_ms,
            }
        )

    async def _on_response_create(self, event: dict[str, Any]) -> None:
        await self._start_response(event)

    async def _on_response_cancel(self, event: dict[str, Any]) -> None:
        self.cancels.append(event)
        response = self._active
        if response is None or response.audio_finished or response.cancel_reason is not None:
            await self._reject(
                event, "response_cancel_not_active", "There is no active response.", ""
            )
            return
        wanted = event.get("response_id")
        if wanted is not None and wanted != response.id:
            await self._reject(
                event, "invalid_value", f"Response {wanted!r} is not active.", "response_id"
            )
            return
        self._interrupt(response, "client_cancelled", self.server.late_deltas_after_cancel)

    _handlers: dict[str, Callable[[FakeSession, dict[str, Any]], Any]] = {
        "session.update": _on_session_update,
        "input_audio_buffer.append": _on_append,
        "input_audio_buffer.commit": _on_commit,
        "input_audio_buffer.clear": _on_buffer_clear,
        "conversation.item.create": _on_item_create,
        "conversation.item.delete": _on_item_delete,
        "conversation.item.truncate": _on_truncate,
        "response.create": _on_response_create,
        "response.cancel": _on_response_cancel,
    }

    # ---- caller turns (energy VAD and manual triggers) -------------------------------------

    def _reset_speech(self) -> None:
        self._in_speech = False
        self._speech_item_id = None
        self._loud_ms = 0
        self._quiet_ms = 0

    async def _vad(self, samples: np.ndarray, fmt: str, rate: int, start_ms: float) -> None:
        """Energy VAD over appended audio in 20 ms windows (RMS >= threshold = loud)."""
        if fmt != self._vad_format:  # format change: restart windowing at this append
            self._vad_format = fmt
            self._vad_residual = np.zeros(0)
            self._vad_pos_ms = start_ms
        buf = np.concatenate([self._vad_residual, samples])
        window = rate * 20 // 1000
        n_windows = len(buf) // window
        self._vad_residual = buf[n_windows * window :]
        td = self._turn_detection or {}
        silence_ms = td.get("silence_duration_ms", 500)
        silence_ms = 500 if silence_ms is None else silence_ms
        for i in range(n_windows):
            at_ms = self._vad_pos_ms
            self._vad_pos_ms += 20
            loud = audio.rms(buf[i * window : (i + 1) * window]) >= self.server.vad_rms_threshold
            if not self._in_speech:
                if not loud:
                    self._loud_ms = 0
                    continue
                if self._loud_ms == 0:
                    self._onset_ms = at_ms
                self._loud_ms += 20
                if self._loud_ms >= self.server.vad_min_speech_ms:
                    padding = td.get("prefix_padding_ms") or 0
                    await self.speech_started(max(0, round(self._onset_ms - padding)))
            elif loud:
                self._quiet_ms = 0
            else:
                if self._quiet_ms == 0:
                    self._speech_end_ms = at_ms
                self._quiet_ms += 20
                if self._quiet_ms >= silence_ms:
                    item_id = self._speech_item_id or _new_id("item_")
                    self._reset_speech()
                    # As the OpenAI realtime reference defines it (Voice Live mirrors it):
                    # audio_end_ms includes the silence_duration_ms that ended the turn.
                    await self._finish_user_turn(
                        item_id,
                        audio_end_ms=round(self._speech_end_ms + silence_ms),
                        transcript=None,
                        respond=self._td_flag("create_response"),
                    )

    async def speech_started(self, audio_start_ms: int | None = None) -> str:
        """Send input_audio_buffer.speech_started (barge-in); returns the user item id.

        Interrupts the active response unless turn_detection.interrupt_response is false.
        """
        item_id = _new_id("item_")
        self._in_speech = True
        self._quiet_ms = 0
        self._speech_item_id = item_id
        start = round(self.appended_ms) if audio_start_ms is None else audio_start_ms
        await self._emit(
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": start,
                "item_id": item_id,
            }
        )
        response = self._active
        if response is not None and self._td_flag("interrupt_response"):
            self._interrupt(response, "turn_detected", self.server.late_deltas_after_interrupt)
        return item_id

    async def caller_turn(
        self, transcript: str | None = None, *, respond: bool | None = None
    ) -> str:
        """A whole caller turn without audio: speech_started (if not already) -> stopped ->
        committed -> user item -> transcription -> response (unless create_response is false).
        """
        if self._speech_item_id is None:
            await self.speech_started()
        item_id = self._speech_item_id or _new_id("item_")
        self._reset_speech()
        await self._finish_user_turn(
            item_id,
            audio_end_ms=round(self.appended_ms),
            transcript=transcript,
            respond=self._td_flag("create_response") if respond is None else respond,
        )
        return item_id

    async def _finish_user_turn(
        self, item_id: str, *, audio_end_ms: int | None, transcript: str | None, respond: bool
    ) -> None:
        if audio_end_ms is not None:
            await self._emit(
                {
                    "type": "input_audio_buffer.speech_stopped",
                    "audio_end_ms": audio_end_ms,
                    "item_id": item_id,
                }
            )
        previous = self._last_item_id
        self._last_item_id = item_id
        self._buffer_bytes = 0
        await self._emit(
            {
                "type": "input_audio_buffer.committed",
                "previous_item_id": previous,
                "item_id": item_id,
            }
        )
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        self.items[item_id] = {"item": item, "role": "user", "audio_ms": 0.0}
        await self._emit(
            {"type": "conversation.item.created", "previous_item_id": previous, "item": item}
        )
        index = self._utterances
        self._utterances += 1
        transcribe = self.server.transcribe
        if transcribe is None:
            transcribe = bool(self.config.get("input_audio_transcription"))
        if transcribe:
            text = transcript if transcript is not None else self.server.caller_transcript(index)
            await self._emit(
                {
                    "type": "conversation.item.input_audio_transcription.completed",
                    "item_id": item_id,
                    "content_index": 0,
                    "transcript": text,
                }
            )
        if respond:
            await self._start_response(None)

    # ---- responses -------------------------------------------------------------------------

    async def start_response(self) -> FakeResponse | None:
        """Server-initiated response (as after a VAD turn), without a client response.create."""
        return await self._start_response(None)

    async def function_calls(
        self,
        calls: list[tuple[str, str]],
        *,
        name_on_done: bool = False,
        text: str | None = None,
    ) -> FakeResponse:
        """One server-initiated response carrying one function_call output item per
        (name, arguments), each with a fresh call_id (`response.calls`), as the reference shows
        them: the name in the items (output_item.added, conversation.item.created,
        output_item.done, response.done's output) and `.done` without `name` unless
        name_on_done. With `text`, an assistant message speaking it comes first.

        Returns as soon as the response is started (wait for `response.done_at`)."""
        response = await self._start_response(
            None, calls=calls, name_on_done=name_on_done, text=text
        )
        assert response is not None
        return response

    @staticmethod
    def _pre_generated_text(body: dict[str, Any]) -> str | bool | None:
        """The text of response.pre_generated_assistant_message; None if absent, False if bad."""
        message = body.get("pre_generated_assistant_message")
        if message is None:
            return None
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list) or not content:
            return False
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                return False
            if not isinstance(part.get("text"), str):
                return False
            texts.append(part["text"])
        return "".join(texts)

    async def _start_response(
        self,
        request: dict[str, Any] | None,
        *,
        calls: list[tuple[str, str]] | None = None,
        name_on_done: bool = False,
        text: str | None = None,
    ) -> FakeResponse | None:
        body = request.get("response") if request is not None else None
        body = body if isinstance(body, dict) else {}
        pre_generated = self._pre_generated_text(body)
        if pre_generated is False:
            assert request is not None
            await self._reject(
                request,
                "invalid_value",
                "pre_generated_assistant_message.content must be a list of text parts.",
                "response.pre_generated_assistant_message",
            )
            return None
        previous = self._active
        if previous is not None and request is not None and previous.cancel_reason is None:
            if body.get("cancel_previous", True) is False:
                await self._reject(
                    request,
                    "conversation_already_has_active_response",
                    f"Conversation already has an active response in progress: {previous.id}. "
                    "Wait until the response is finished before creating a new one.",
                    "",
                )
                return None
            # cancel_previous (default true): the active response is cancelled
            self.creates_while_active.append(request)
            self._interrupt(previous, "client_cancelled", self.server.late_deltas_after_cancel)
        index = len(self.responses)
        fmt = self.config.get("output_audio_format", "pcm16")
        failure = self.server._take_failure()
        spoken = pre_generated if isinstance(pre_generated, str) else text
        speaks = failure is None and (calls is None or text is not None)
        if not speaks:
            sound, transcript = b"", ""
        elif spoken is not None:
            ms_per_char = self.server.pre_generated_ms_per_char
            if ms_per_char is None:  # the test's own audio for this response, exact words
                sound = self.server.response_audio(index, fmt)
            else:  # audio as long as the text would take to say
                sound = spoken_audio(spoken, index, fmt, ms_per_char)
            transcript = spoken
        else:
            sound = self.server.response_audio(index, fmt)
            transcript = self.server.response_text(index)
        response = FakeResponse(
            id=_new_id("resp_"),
            item_id=_new_id("item_"),
            index=index,
            output_format=fmt,
            audio=sound,
            transcript=transcript,
            request=request,
            triggered_at=self._loop.time(),
            calls=[
                {
                    "name": name,
                    "call_id": _new_id("call_"),
                    "arguments": arguments,
                    "item_id": _new_id("item_"),
                }
                for name, arguments in (calls or [])
            ],
            name_on_done=name_on_done,
            speaks=speaks,
            pre_generated=pre_generated if isinstance(pre_generated, str) else None,
            failure=failure,
        )
        self.responses.append(response)
        self._active = response
        wait_for = previous.task if previous is not None else None
        response.task = asyncio.create_task(self._run_response(response, wait_for))
        return response

    def _interrupt(self, response: FakeResponse, reason: str, late_deltas: int) -> None:
        if response.cancel_reason is not None or response.audio_finished:
            return
        response.cancel_reason = reason
        response.interrupted_at = self._loop.time()
        response.late_budget = late_deltas
        response.wake.set()

    async def _sleep_until(self, when: float, wake: asyncio.Event) -> None:
        delay = when - self._loop.time()
        if delay <= 0:
            await asyncio.sleep(0)
            return
        try:
            async with asyncio.timeout(delay):
                await wake.wait()
        except TimeoutError:
            pass

    def _usage(self, response: FakeResponse) -> dict[str, Any]:
        if response.status == "failed":
            out_audio = out_text = 0
        else:
            out_audio = round(20 * response.audio_ms_sent / 1000)
            out_text = len(response.transcript_sent.split()) + sum(
                len(item.get("arguments") or "") // 4
                for item in response.output
                if item.get("type") == "function_call"
            )
        in_audio = round(10 * self.appended_ms / 1000)
        in_text = len(str(self.config.get("instructions") or "")) // 4 + 4 * len(self.items)
        input_tokens = in_audio + in_text
        cached = max(0, min(self.server.cached_tokens, input_tokens))
        details: dict[str, Any] = {
            "text_tokens": in_text,
            "audio_tokens": in_audio,
            "cached_tokens": cached,
        }
        if self.server.cached_details:
            cached_text = round(cached * in_text / input_tokens) if input_tokens else 0
            details["cached_tokens_details"] = {
                "text_tokens": cached_text,
                "audio_tokens": cached - cached_text,
            }
        return {
            "total_tokens": input_tokens + out_audio + out_text,
            "input_tokens": input_tokens,
            "output_tokens": out_audio + out_text,
            "input_token_details": details,
            "output_token_details": {"text_tokens": out_text, "audio_tokens": out_audio},
        }

    async def _run_response(
        self, response: FakeResponse, wait_for: asyncio.Task[None] | None
    ) -> None:
        try:
            if wait_for is not None:
                await asyncio.gather(wait_for, return_exceptions=True)
            await self._produce(response)
        except ConnectionClosed:
            response.status = "connection_closed"
        finally:
            if self._active is response:
                self._active = None

    async def _produce(self, response: FakeResponse) -> None:
        rid = response.id
        if self.server.created_delay_ms:
            await self._sleep_until(
                response.triggered_at + self.server.created_delay_ms / 1000, response.wake
            )
        response.created_at = self._loop.time()
        await self._emit(
            {
                "type": "response.created",
                "response": {
                    "id": rid,
                    "object": "realtime.response",
                    "status": "in_progress",
                    "status_details": None,
                    "output": [],
                    "usage": None,
                },
            }
        )
        if response.failure is not None:  # produces nothing: no item, no audio
            response.status = "failed"
            response.status_details = {"type": "failed", "error": dict(response.failure)}
            self.server.failed_responses += 1
        else:
            if response.speaks:
                response.output.append(await self._produce_message(response, 0))
            if response.calls and response.cancel_reason is None:
                first_at = response.triggered_at + self.server.first_delta_delay_ms / 1000
                await self._sleep_until(first_at, response.wake)
            for call in response.calls:
                if response.cancel_reason is not None:
                    break
                response.output.append(
                    await self._produce_call(response, call, len(response.output))
                )
            if response.cancel_reason is None:
                response.status = "completed"
            else:
                response.status = "cancelled"
                response.status_details = {"type": "cancelled", "reason": response.cancel_reason}
        response.done_at = self._loop.time()
        response.usage = self._usage(response)
        await self._emit(
            {
                "type": "response.done",
                "response": {
                    "id": rid,
                    "object": "realtime.response",
                    "status": response.status,
                    "status_details": response.status_details,
                    "output": response.output,
                    "usage": response.usage,
                },
            }
        )

    async def _produce_call(
        self, response: FakeResponse, call: dict[str, Any], output_index: int
    ) -> dict[str, Any]:
        rid, item_id, call_id = response.id, call["item_id"], call["call_id"]
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": call["name"],
            "call_id": call_id,
            "arguments": "",
        }
        where = {"response_id": rid, "item_id": item_id, "output_index": output_index}
        await self._emit(
            {
                "type": "response.output_item.added",
                "response_id": rid,
                "output_index": output_index,
                "item": item,
            }
        )
        previous = self._last_item_id
        self._last_item_id = item_id
        self.items[item_id] = {"item": item, "role": None, "audio_ms": 0.0}
        await self._emit(
            {"type": "conversation.item.created", "previous_item_id": previous, "item": item}
        )
        arguments = call["arguments"]
        await self._emit(
            {
                "type": "response.function_call_arguments.delta",
                **where,
                "call_id": call_id,
                "delta": arguments,
            }
        )
        done: dict[str, Any] = {
            "type": "response.function_call_arguments.done",
            **where,
            "call_id": call_id,
            "arguments": arguments,
        }
        if response.name_on_done:
            done["name"] = call["name"]
        await self._emit(done)
        item = {**item, "status": "completed", "arguments": arguments}
        self.items[item_id]["item"] = item
        await self._emit(
            {
                "type": "response.output_item.done",
                "response_id": rid,
                "output_index": output_index,
                "item": item,
            }
        )
        return item

    async def _produce_message(self, response: FakeResponse, output_index: int) -> dict[str, Any]:
        rid, item_id = response.id, response.item_id
        where = {
            "response_id": rid,
            "item_id": item_id,
            "output_index": output_index,
            "content_index": 0,
        }
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        await self._emit(
            {
                "type": "response.output_item.added",
                "response_id": rid,
                "output_index": output_index,
                "item": item,
            }
        )
        previous = self._last_item_id
        self._last_item_id = item_id
        entry = {"item": item, "role": "assistant", "audio_ms": 0.0}
        self.items[item_id] = entry
        await self._emit(
            {"type": "conversation.item.created", "previous_item_id": previous, "item": item}
        )
        await self._emit(
            {
                "type": "response.content_part.added",
                **where,
                "part": {"type": "audio", "transcript": ""},
            }
        )

        step = max(1, self.server.delta_ms) * audio.bytes_per_ms(response.output_format)
        chunks = [response.audio[i : i + step] for i in range(0, len(response.audio), step)]
        words = response.transcript.split(" ")
        pieces: dict[int, str] = {}
        for j, word in enumerate(words):
            k = j * max(1, len(chunks)) // len(words)
            pieces[k] = pieces.get(k, "") + word + (" " if j < len(words) - 1 else "")
        speed = self.server.speed
        interval = 0.0 if math.isinf(speed) else self.server.delta_ms / 1000 / speed
        first_at = response.triggered_at + self.server.first_delta_delay_ms / 1000

        for k, chunk in enumerate(chunks):
            if response.cancel_reason is None:
                await self._sleep_until(first_at + k * interval, response.wake)
            if response.cancel_reason is not None:
                if response.late_budget <= 0:
                    break
                response.late_budget -= 1
                response.deltas_after_interrupt += 1
            await self._emit(
                {
                    "type": "response.audio.delta",
                    **where,
                    "delta": base64.b64encode(chunk).decode("ascii"),
                }
            )
            now = self._loop.time()
            response.first_delta_at = response.first_delta_at or now
            response.last_delta_at = now
            response.deltas_sent += 1
            response.audio_bytes_sent += len(chunk)
            entry["audio_ms"] = response.audio_ms_sent
            if response.cancel_reason is None and k in pieces:
                response.transcript_sent += pieces[k]
                await self._emit(
                    {"type": "response.audio_transcript.delta", **where, "delta": pieces[k]}
                )

        if response.cancel_reason is None:
            response.audio_finished = True
            # words the audio never reached (no deltas at all) still belong to the transcript
            response.transcript_sent = response.transcript
            text = response.transcript
            await self._emit({"type": "response.audio.done", **where})
            await self._emit(
                {"type": "response.audio_transcript.done", **where, "transcript": text}
            )
            await self._emit(
                {
                    "type": "response.content_part.done",
                    **where,
                    "part": {"type": "audio", "transcript": text},
                }
            )
            item_status = "completed"
        else:
            item_status = "incomplete"
        item = {
            **item,
            "status": item_status,
            "content": [{"type": "audio", "transcript": response.transcript_sent}],
        }
        entry["item"] = item
        if item_status == "completed":
            await self._emit(
                {
                    "type": "response.output_item.done",
                    "response_id": rid,
                    "output_index": output_index,
                    "item": item,
                }
            )
        return item

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
