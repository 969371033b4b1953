"""The Voice Live WebSocket client: connect, authenticate, configure, send and receive."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from bot.config import Settings
from bot.voicelive import events
from bot.voicelive.auth import TokenError, TokenProvider

log = structlog.get_logger(__name__)

MAX_SERVER_FRAME = 16 * 1024 * 1024


class VoiceLiveUnavailable(ConnectionError):
    """Voice Live could not be reached or refused us; the message says how."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable  # False for refusals a retry cannot fix (auth, not found)


def realtime_url(endpoint: str, api_version: str, model: str) -> str:
    """wss://…/voice-live/realtime?… for an https endpoint; ws:// for a local http one."""
    split = urlsplit(endpoint)
    scheme = "wss" if split.scheme == "https" else "ws"
    query = urlencode({"api-version": api_version, "model": model})
    return f"{scheme}://{split.netloc}{split.path.rstrip('/')}/voice-live/realtime?{query}"


def voice_config(voice: str) -> str | dict[str, str]:
    """Azure voices (en-US-AvaNeural, …:DragonHDLatestNeural) need the azure-standard form."""
    if "Neural" in voice or ":" in voice:
        return {"type": "azure-standard", "name": voice}
    return voice


def session_config(
    settings: Settings,
    instructions: str,
    tools: list[dict[str, Any]],
    model_format: str,
    *,
    voice: str | None = None,
    language: str = "en-US",
) -> dict[str, Any]:
    """The session.update body for an interview call (voice: the profile's, else the setting)."""
    return {
        "modalities": ["text", "audio"],
        "instructions": instructions,
        "voice": voice_config(voice or settings.voice_live_voice),
        "input_audio_format": model_format,
        "output_audio_format": model_format,
        "input_audio_sampling_rate": 8000 if model_format == "g711_ulaw" else 24000,
        "turn_detection": {
            "type": "azure_semantic_vad",
            "threshold": 0.5,
            "silence_duration_ms": 500,
            "create_response": True,
            "interrupt_response": True,
        },
        "input_audio_noise_reduction": {"type": "azure_deep_noise_suppression"},
        "input_audio_echo_cancellation": {"type": "server_echo_cancellation"},
        "input_audio_transcription": {"model": "azure-speech", "language": language},
        "tools": tools,
        "tool_choice": "auto",
    }


class VoiceLiveConnection:
    """One open realtime session."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws

    async def send(self, text: str) -> None:
        await self._ws.send(text)

    async def events(self) -> AsyncIterator[events.ServerEvent]:
        """Server events until the socket closes; malformed frames are logged and skipped."""
        try:
            async for frame in self._ws:
                try:
                    yield events.parse(frame)
                except events.EventError as exc:
                    log.warning("voicelive.bad_frame", reason=str(exc), size=len(frame))
        except ConnectionClosed:
            return

    async def frames(self) -> AsyncIterator[str | bytes]:
        """Raw server frames until the socket closes (for callers that need every field)."""
        try:
            async for frame in self._ws:
                yield frame
        except ConnectionClosed:
            return

    @property
    def close_code(self) -> int | None:
        return self._ws.close_code

    @property
    def close_reason(self) -> str:
        return self._ws.close_reason or ""

    async def close(self) -> None:
        await self._ws.close()


async def open_session(
    settings: Settings,
    endpoint: str,
    api_key: str | None,
    session: dict[str, Any],
    tokens: TokenProvider | None = None,
) -> VoiceLiveConnection:
    """Connect, authenticate (api-key, else an Entra ID bearer token from `tokens`) and send
    session.update; raise VoiceLiveUnavailable on failure."""
    conn = await connect_session(settings, endpoint, api_key, tokens)
    try:
        await conn.send(events.session_update(session))
    except ConnectionClosed:
        raise VoiceLiveUnavailable("Voice Live closed the connection at once") from None
    return conn


async def connect_session(
    settings: Settings,
    endpoint: str,
    api_key: str | None,
    tokens: TokenProvider | None = None,
) -> VoiceLiveConnection:
    """The WebSocket handshake alone (as open_session makes it); raise VoiceLiveUnavailable."""
    url = realtime_url(endpoint, settings.voice_live_api_version, settings.voice_live_model)
    headers = {"api-key": api_key} if api_key else {}
    if not api_key and tokens is not None:
        try:
            async with asyncio.timeout(settings.voice_live_connect_timeout_s):
                headers = await tokens.headers()
        except TokenError as exc:
            raise VoiceLiveUnavailable(str(exc)) from None
        except TimeoutError:
            raise VoiceLiveUnavailable(
                f"no Entra ID token within {settings.voice_live_connect_timeout_s:g} s"
            ) from None
    try:
        ws = await asyncio.wait_for(
            connect(
                url,
                additional_headers=headers,
                max_size=MAX_SERVER_FRAME,
                open_timeout=None,
                compression=None,
                ping_interval=5,
                ping_timeout=5,
            ),
            timeout=settings.voice_live_connect_timeout_s,
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        raise VoiceLiveUnavailable(
            f"Voice Live refused the connection: HTTP {status}",
            retryable=status not in (400, 401, 403, 404),
        ) from None
    except InvalidHandshake as exc:
        raise VoiceLiveUnavailable(f"Voice Live handshake failed: {exc}") from None
    except TimeoutError:
        raise VoiceLiveUnavailable(
            f"Voice Live did not answer within {settings.voice_live_connect_timeout_s:g} s"
        ) from None
    except (OSError, ConnectionClosed) as exc:
        raise VoiceLiveUnavailable(f"Voice Live unreachable: {exc}") from None
    return VoiceLiveConnection(ws)
