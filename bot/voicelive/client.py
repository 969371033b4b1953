"""The Voice Live WebSocket client: connect, authenticate, configure, send and receive."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.protocol import State

from bot.timeouts import within
from bot.voicelive import events
from bot.voicelive.auth import TokenError, TokenProvider
from bot.voicelive.session import OPTIONAL_PARTS, without

if TYPE_CHECKING:
    from bot.config import Settings

log = structlog.get_logger(__name__)

MAX_SERVER_FRAME = 16 * 1024 * 1024
# Keepalive as the SDK does it (a ping every 30 s or so): a short ping timeout turns a brief
# network stall into a dropped session and a full replay. Stalls are found by what the session
# owes us (bot/voicelive/stall.py): only then a ping with a short timeout (`probe`).
PING_INTERVAL_S = 25.0
PING_TIMEOUT_S = 20.0


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


@dataclass(frozen=True, slots=True)
class ConfigRefused:
    """Voice Live refused (part of) our session.update. `dropped` names the optional part the
    session now runs without (the update was sent again without it); None if the refused part
    is essential (formats, instructions, tools): the call cannot go on as configured."""

    param: str | None
    message: str
    code: str | None
    dropped: str | None


MAX_CONFIG_RETRIES = 6  # one per optional part at most


class VoiceLiveConnection:
    """One open realtime session; answers a refused configuration by dropping optional parts."""

    def __init__(self, ws: ClientConnection, session: dict[str, Any] | None = None) -> None:
        self._ws = ws
        self.session = session or {}  # the configuration in force (minus refused parts)
        self.update_id: str | None = None  # event_id of our last full session.update
        self.refused: list[ConfigRefused] = []
        self._minimal_tried = False

    async def send(self, text: str) -> None:
        await self._ws.send(text)

    def sends_at_once(self, text: str) -> bool:
        """True when sending `text` cannot wait: the socket is open and its write buffer stays
        under the level at which writing pauses (the only wait in a send), with room for the
        frame's header and more. Then a send needs no deadline. (A connection that is not open,
        e.g. closing after the service's close frame, makes a send wait for the close: never
        at once.)"""
        transport = getattr(self._ws, "transport", None)
        if self._ws.state is not State.OPEN or transport is None or transport.is_closing():
            return False
        _, high = transport.get_write_buffer_limits()
        return transport.get_write_buffer_size() + 2 * len(text) + 64 < high

    async def configure(self, session: dict[str, Any]) -> None:
        """Send the whole configuration as one session.update (its event_id is remembered)."""
        self.session = session
        self.update_id = events.new_event_id("session")
        await self.send(events.session_update(session, self.update_id))

    async def events(self) -> AsyncIterator[events.ServerEvent | ConfigRefused]:
        """Server events until the socket closes; malformed frames are logged and skipped.

        An `error` answering our session.update becomes a ConfigRefused (after the update has
        gone again without the refused part, when that part is optional)."""
        try:
            async for frame in self._ws:
                try:
                    event = events.parse(frame)
                except events.EventError as exc:
                    log.warning("voicelive.bad_frame", reason=str(exc), size=len(frame))
                    continue
                if (
                    isinstance(event, events.ServerError)
                    and event.event_id is not None
                    and event.event_id == self.update_id
                ):
                    yield await self._refused(event)
                else:
                    yield event
        except ConnectionClosed:
            return

    async def frames(self) -> AsyncIterator[str | bytes]:
        """Raw server frames until the socket closes (for callers that need every field)."""
        try:
            async for frame in self._ws:
                yield frame
        except ConnectionClosed:
            return

    async def _refused(self, error: events.ServerError) -> ConfigRefused:
        """Send the update again without the refused optional part, if it is optional."""
        trimmed = without(self.session, error.param)
        dropped: str | None = None
        if trimmed is None and error.param is None and not self._minimal_tried:
            # The service did not say which part: try once with the essential parts only.
            self._minimal_tried = True
            minimal = {k: v for k, v in self.session.items() if k not in OPTIONAL_PARTS}
            trimmed = (minimal, "all optional parts")
        if trimmed is not None and len(self.refused) < MAX_CONFIG_RETRIES:
            session, dropped = trimmed
            await self.configure(session)
        refusal = ConfigRefused(error.param, error.message, error.code, dropped)
        self.refused.append(refusal)
        return refusal

    async def probe(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Ping; True if the pong comes within `timeout` s. ConnectionClosed if it is closed."""
        try:
            async with asyncio.timeout(timeout):
                pong = await self._ws.ping()
                await pong
        except TimeoutError:
            return False
        return True

    def abort(self) -> None:
        """Drop the TCP connection at once: no close handshake with a session that stalled."""
        self._ws.transport.abort()

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
    session.update; raise VoiceLiveUnavailable on failure. `settings` gives the model, the
    api-version and the connect timeout."""
    conn = await connect_session(settings, endpoint, api_key, tokens)
    try:
        await conn.configure(session)
    except ConnectionClosed:
        raise VoiceLiveUnavailable("Voice Live closed the connection at once") from None
    except BaseException:  # cancelled (the call ended) while configuring: leave nothing open
        conn.abort()
        raise
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
    try:  # within, not wait_for: a cancel meeting the handshake's end must not hand back a
        # session nobody will close (tests/voicelive/test_open_cancel.py)
        ws = await within(
            connect(
                url,
                additional_headers=headers,
                max_size=MAX_SERVER_FRAME,
                open_timeout=None,
                compression=None,
                ping_interval=PING_INTERVAL_S,
                ping_timeout=PING_TIMEOUT_S,
            ),
            settings.voice_live_connect_timeout_s,
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
