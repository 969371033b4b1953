"""The fake Voice Live endpoint: the listener on 127.0.0.1, the upgrade checks (path, query,
api-key or bearer token), handshakes recorded, and failures and settings shared by sessions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from .reference import (
    REALTIME_PATH,
    default_caller_transcript,
    default_response_audio,
    default_response_text,
)
from .session import FakeSession


@dataclass
class Handshake:
    """One upgrade attempt and the HTTP status the fake answered (101 = accepted)."""

    at: float
    path: str
    query: dict[str, str]
    headers: Headers
    status: int


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
