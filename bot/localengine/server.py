"""The local engine's WebSocket server: Voice Live's realtime endpoint on a loopback port."""

from __future__ import annotations

import asyncio
import hmac
import http
from urllib.parse import parse_qs, urlsplit

import structlog
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from bot.localengine import tts
from bot.localengine.failures import FailurePlan
from bot.localengine.session import EngineSession

log = structlog.get_logger(__name__)

PATH = "/voice-live/realtime"
DEFAULT_SPEED = 3.0
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


class LocalEngine:
    """A Voice Live-compatible realtime server with a scripted interviewer, for offline use.

    `speed` is how much faster than real time responses stream their audio (the bot paces
    playback itself, as with the real service). Responses that fail on purpose (status
    `failed`, a rate limit), over all sessions: the first `fail_responses`, and every
    `fail_every`-th; `failures.add(n, code=…)` asks for more while running.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        speed: float = DEFAULT_SPEED,
        fail_responses: int = 0,
        fail_every: int = 0,
    ) -> None:
        self.api_key = api_key
        self.speed = speed
        self.failures = FailurePlan(every=fail_every)
        self.failures.add(fail_responses)
        self._server: Server | None = None
        self.sessions = 0

    @property
    def failed_responses(self) -> int:
        """Responses that ended with status failed on purpose."""
        return self.failures.failed

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on host:port (0 picks a free port); returns the endpoint, http://host:port."""
        if self._server is not None:
            raise RuntimeError("the local engine is already running")
        await asyncio.to_thread(tts.synthesize, "ready", 8000)  # load the voice before any call
        self._server = await serve(
            self._handle,
            host,
            port,
            process_request=self._check_request,
            max_size=MAX_MESSAGE_BYTES,
            ping_interval=None,
            compression=None,
        )
        bound = self._server.sockets[0].getsockname()
        endpoint = f"http://{bound[0]}:{bound[1]}"
        log.info("localengine.listening", endpoint=endpoint)
        return endpoint

    async def stop(self) -> None:
        """Close every session and stop listening."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()
            log.info("localengine.stopped")

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        split = urlsplit(request.path)
        if split.path.rstrip("/") != PATH:
            return _refuse(connection, http.HTTPStatus.NOT_FOUND, f"no endpoint at {split.path}")
        query = parse_qs(split.query)
        if not query.get("api-version", [""])[0]:
            reason = "the api-version query parameter is required"
            return _refuse(connection, http.HTTPStatus.BAD_REQUEST, reason)
        if self.api_key is not None and not _authorised(request.headers, self.api_key):
            return _refuse(connection, http.HTTPStatus.UNAUTHORIZED, "missing or wrong api-key")
        return None

    async def _handle(self, connection: ServerConnection) -> None:
        self.sessions += 1
        query = parse_qs(urlsplit(connection.request.path).query) if connection.request else {}
        model = query.get("model", ["gpt-realtime"])[0]
        session = EngineSession(
            connection.send, model=model, speed=self.speed, failures=self.failures
        )
        log.info("localengine.connected", model=model, session=session.session["id"])
        try:
            await session.open()
            async for message in connection:
                await session.handle(message)
        except ConnectionClosed:
            pass
        finally:
            await session.close()
            log.info("localengine.disconnected", session=session.session["id"])


def _authorised(headers: Headers, api_key: str) -> bool:
    given = headers.get("api-key", "")
    return hmac.compare_digest(given.encode(), api_key.encode())


def _refuse(connection: ServerConnection, status: http.HTTPStatus, text: str) -> Response:
    log.info("localengine.refused_connection", status=int(status), reason=text)
    return connection.respond(status, text + "\n")


async def serve_forever(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    api_key: str | None = None,
    fail_responses: int = 0,
    fail_every: int = 0,
) -> None:
    """Run a local engine until cancelled (the `bot local-engine` command)."""
    engine = LocalEngine(api_key=api_key, fail_responses=fail_responses, fail_every=fail_every)
    endpoint = await engine.start(host, port)
    print(f"local engine listening: {endpoint} (VOICE_LIVE_ENDPOINT={endpoint})", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await engine.stop()
