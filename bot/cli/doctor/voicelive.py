"""Voice Live checks: the handshake, the call's session.update accepted, a first response."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from bot.cli.doctor.report import Check, failed, passed, skipped
from bot.config import Settings
from bot.interview.context import InterviewContext
from bot.interview.profiles import Profile
from bot.interview.session import call_session
from bot.observability.logs import SCRUBBER
from bot.voicelive import events as vl
from bot.voicelive.auth import TokenProvider, default_credential
from bot.voicelive.client import (
    VoiceLiveConnection,
    VoiceLiveUnavailable,
    connect_session,
    realtime_url,
)

SESSION_TIMEOUT_S = 10.0
RESPONSE_TIMEOUT_S = 30.0
FIRST_DELTAS = ("response.audio_transcript.delta", "response.text.delta", "response.audio.delta")
PROMPT = "This is a connection test. Reply with one short line: 'The interviewer is ready.'"
ROLES_FIX = (
    "with an API key: check VOICE_LIVE_API_KEY (Keys and Endpoint of the resource); with Entra "
    "ID: the identity needs BOTH Cognitive Services User and Foundry User (53ca6127-db72-4b80-"
    "b1b0-d745d6d5456d) on the Voice Live resource (role assignments take a few minutes)"
)


@dataclass
class Target:
    """Where the doctor talks to Voice Live: Azure, or the local engine it started."""

    endpoint: str
    api_key: str | None
    tokens: TokenProvider | None
    local: bool

    @property
    def auth(self) -> str:
        if self.local:
            return "local engine (VOICE_LIVE_ENDPOINT unset), api-key"
        return "api-key" if self.api_key else "Entra ID"


@contextlib.asynccontextmanager
async def voice_live_target(settings: Settings) -> AsyncIterator[Target]:
    """The endpoint and credentials a call would use; the local engine when no endpoint is set."""
    if settings.voice_live_endpoint is None:
        from bot.localengine import LocalEngine

        key = secrets.token_hex(16)
        SCRUBBER.add_secrets(key)
        engine = LocalEngine(api_key=key)
        endpoint = await engine.start()
        try:
            yield Target(endpoint, key, None, local=True)
        finally:
            await engine.stop()
        return
    if settings.voice_live_api_key:
        yield Target(settings.voice_live_endpoint, settings.voice_live_api_key, None, local=False)
        return
    tokens = TokenProvider(default_credential(settings.azure_client_id))
    try:
        yield Target(settings.voice_live_endpoint, None, tokens, local=False)
    finally:
        await tokens.close()


def _host(settings: Settings, target: Target) -> str:
    url = realtime_url(target.endpoint, settings.voice_live_api_version, settings.voice_live_model)
    return url.split("?", 1)[0]


async def check_connect(
    settings: Settings, target: Target
) -> tuple[Check, VoiceLiveConnection | None]:
    """The WebSocket handshake, authenticated as a call would be."""
    name = "voice_live_connect"
    where = f"{_host(settings, target)} (model {settings.voice_live_model}, {target.auth})"
    began = time.monotonic()
    try:
        conn = await connect_session(settings, target.endpoint, target.api_key, target.tokens)
    except VoiceLiveUnavailable as exc:
        status = re.search(r"HTTP (\d{3})", str(exc))
        code = int(status.group(1)) if status else None
        if code in (401, 403):
            return failed(name, f"{where}: refused, HTTP {code}", ROLES_FIX), None
        if code == 404:
            return failed(
                name,
                f"{where}: HTTP 404",
                "check VOICE_LIVE_ENDPOINT (https://<resource>.services.ai.azure.com), "
                "VOICE_LIVE_API_VERSION and that VOICE_LIVE_MODEL is available in the region",
            ), None
        return failed(
            name,
            f"{where}: {exc}",
            "check VOICE_LIVE_ENDPOINT and that this machine reaches it (DNS, firewall, proxy)",
        ), None
    took = (time.monotonic() - began) * 1000
    return passed(name, f"{where}: connected in {took:.0f} ms"), conn


class Events:
    """Server events of one session, read by a task into a queue (so a timed-out wait loses
    nothing and does not end the reading)."""

    def __init__(self, conn: VoiceLiveConnection) -> None:
        self._queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._task = asyncio.create_task(self._read(conn))

    async def _read(self, conn: VoiceLiveConnection) -> None:
        try:
            async for frame in conn.frames():
                with contextlib.suppress(ValueError):
                    event = json.loads(frame)
                    if isinstance(event, dict):
                        self._queue.put_nowait(event)
        finally:
            self._queue.put_nowait(None)

    async def next(self, deadline: float) -> dict[str, Any] | None:
        """The next event before the deadline (else TimeoutError); None once the socket closed."""
        remaining = deadline - time.monotonic()
        if remaining <= 0 and self._queue.empty():
            raise TimeoutError
        async with asyncio.timeout(max(remaining, 0.001)):
            return await self._queue.get()

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def _error_text(event: dict[str, Any]) -> str:
    error = event.get("error") if isinstance(event.get("error"), dict) else {}
    assert isinstance(error, dict)
    param = error.get("param") or "-"
    code = error.get("code") or error.get("type") or "error"
    return f"{code} (param {param}): {error.get('message') or 'no message'}"


async def check_session(
    settings: Settings,
    profile: Profile | None,
    conn: VoiceLiveConnection | None,
    frames: Events | None,
) -> Check:
    """session.update with the call's own configuration; session.updated and no error for it."""
    name = "voice_live_session"
    if conn is None or frames is None:
        return skipped(name, "voice_live_connect failed", "fix voice_live_connect first")
    if profile is None:
        return skipped(name, "the profiles did not load", "fix profiles first")
    session = call_session(settings, profile, InterviewContext(profile.name))
    event_id = vl.new_event_id("session")
    await conn.send(vl.session_update(session, event_id))
    deadline = time.monotonic() + SESSION_TIMEOUT_S
    updated = False
    try:
        while True:
            event = await frames.next(deadline)
            if event is None:
                return failed(name, f"Voice Live closed the session ({conn.close_code} "
                              f"{conn.close_reason})".strip(), "see the close reason")  # fmt: skip
            kind = event.get("type")
            error = event.get("error") if kind == "error" else None
            if isinstance(error, dict) and error.get("event_id") in (event_id, None):
                return failed(
                    name,
                    f"profile {profile.name}: session.update refused: {_error_text(event)}",
                    "change the setting named by param (VOICE_LIVE_MODEL, "
                    "VOICE_LIVE_TRANSCRIPTION_MODEL, VOICE_LIVE_VOICE, AUDIO_FORMAT, the "
                    "profile's voice or language)",
                )
            if kind == "session.updated" and not updated:
                updated = True
                deadline = min(deadline, time.monotonic() + 0.5)  # an error for it may follow
    except TimeoutError:
        if updated:
            features = sorted(k for k, v in session.items() if v not in (None, [], ""))
            return passed(
                name,
                f"profile {profile.name}: accepted ({len(features)} settings, "
                f"{len(session.get('tools', []))} tools, voice {json.dumps(session['voice'])})",
            )
        return failed(
            name,
            f"no session.updated within {SESSION_TIMEOUT_S:g} s",
            "check the service's status; try again",
        )


async def check_response(
    conn: VoiceLiveConnection | None, frames: Events | None, session_ok: bool
) -> Check:
    """response.create for one line: time to the first delta, and response.done completed."""
    name = "voice_live_response"
    if conn is None or frames is None or not session_ok:
        return skipped(name, "voice_live_session failed", "fix voice_live_session first")
    event_id = vl.new_event_id("response")
    began = time.monotonic()
    await conn.send(vl.response_create(PROMPT, event_id=event_id))
    deadline = began + RESPONSE_TIMEOUT_S
    first_ms: float | None = None
    words: list[str] = []
    try:
        while True:
            event = await frames.next(deadline)
            if event is None:
                return failed(name, "Voice Live closed the session during the response",
                              "see the service's logs; try again")  # fmt: skip
            kind = event.get("type")
            if kind in FIRST_DELTAS and first_ms is None:
                first_ms = (time.monotonic() - began) * 1000
            if kind in ("response.audio_transcript.delta", "response.text.delta"):
                words.append(str(event.get("delta") or ""))
            if kind == "error" and isinstance(event.get("error"), dict):
                if event["error"].get("event_id") in (event_id, None):
                    return failed(name, f"response.create refused: {_error_text(event)}",
                                  "see the error; check the model deployment")  # fmt: skip
            if kind == "response.done":
                response = event.get("response") if isinstance(event.get("response"), dict) else {}
                assert isinstance(response, dict)
                status = response.get("status")
                if status != "completed":
                    details = json.dumps(response.get("status_details"))[:300]
                    return failed(name, f"response.done with status {status}: {details}",
                                  "check the model deployment's quota (tokens per minute) and "
                                  "content filters; try again")  # fmt: skip
                if first_ms is None:
                    return failed(name, "response completed without any delta",
                                  "check the session's modalities and voice")  # fmt: skip
                said = "".join(words).strip()[:80]
                total = (time.monotonic() - began) * 1000
                return passed(name, f"first delta after {first_ms:.0f} ms, completed in "
                              f"{total:.0f} ms: \"{said}\"")  # fmt: skip
    except TimeoutError:
        got = f"first delta after {first_ms:.0f} ms, " if first_ms is not None else "no delta, "
        return failed(name, f"{got}no response.done within {RESPONSE_TIMEOUT_S:g} s",
                      "check the model deployment (name, quota); try again")  # fmt: skip


async def voice_live_checks(settings: Settings, profile: Profile | None) -> list[Check]:
    """voice_live_connect, voice_live_session, voice_live_response, on one session."""
    async with contextlib.AsyncExitStack() as stack:
        try:
            target = await stack.enter_async_context(voice_live_target(settings))
        except ImportError as exc:
            fix, after = "fix voice_live_connect first", "voice_live_connect failed"
            return [
                failed(
                    "voice_live_connect",
                    f"{exc.name} is not installed (Entra ID needs it)",
                    "pip install 'bot[azure]', or set VOICE_LIVE_API_KEY",
                ),
                skipped("voice_live_session", after, fix),
                skipped("voice_live_response", after, fix),
            ]
        connect, conn = await check_connect(settings, target)
        if conn is None:
            return [
                connect,
                await check_session(settings, profile, None, None),
                await check_response(None, None, False),
            ]
        frames = Events(conn)
        try:
            session = await check_session(settings, profile, conn, frames)
            response = await check_response(conn, frames, session.ok)
        finally:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await conn.close()
            await frames.close()
        return [connect, session, response]
    raise AssertionError("unreachable")
