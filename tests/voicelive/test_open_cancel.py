"""A session being opened when its call ends: the cancel wins, and no connection is left open."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from bot.voicelive.client import VoiceLiveConnection, open_session
from tests.support import make_settings
from tests.support.server import free_port


class Service:
    """Accepts WebSocket handshakes and keeps each connection until the client leaves."""

    def __init__(self) -> None:
        self.open = 0
        self.accepted = 0

    async def handler(self, ws: ServerConnection) -> None:
        self.open += 1
        self.accepted += 1
        try:
            await ws.wait_closed()
        finally:
            self.open -= 1


async def test_a_cancel_during_the_open_is_never_lost_and_leaks_no_session() -> None:
    """Cancelled at every moment of the handshake (after 0, 1, 2, ... turns of the event
    loop), opening a session ends with CancelledError: never a connection handed back after
    the cancel (on Python 3.11 a nested `wait_for` could swallow it when the handshake
    finished at the same time), never an exception left in a task nobody awaits, and the
    service ends with nothing open."""
    service = Service()
    port = free_port()
    settings = make_settings(VOICE_LIVE_CONNECT_TIMEOUT_S="5")
    loop = asyncio.get_running_loop()
    unretrieved: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: unretrieved.append(context))
    swallowed = cancelled = finished = 0
    async with serve(service.handler, "127.0.0.1", port):
        endpoint = f"http://127.0.0.1:{port}"
        steps = 0
        while finished < 5 and steps < 500:  # cancel after 0, 1, 2, ... turns of the loop
            task = asyncio.create_task(open_session(settings, endpoint, "test-key", {}))
            for _ in range(steps):
                await asyncio.sleep(0)
            steps += 1
            if not task.cancel():  # it had finished already: nothing to swallow
                finished += 1
                await (await task).close()
                continue
            try:
                conn = await task
            except asyncio.CancelledError:
                cancelled += 1
            else:  # the cancel was swallowed: a session the call no longer wants
                swallowed += 1
                await conn.close()
        for _ in range(100):  # connections the client dropped end at the service too
            if service.open == 0:
                break
            await asyncio.sleep(0.02)
        open_left = service.open
    gc.collect()  # a task finished with an exception nobody retrieved is reported when freed
    await asyncio.sleep(0)
    assert service.accepted > 1, "the sweep never reached the service: no handshake was tested"
    assert swallowed == 0, f"{swallowed} of {steps} cancels were swallowed (a session came back)"
    assert cancelled + finished == steps and cancelled >= 5, (cancelled, finished)
    assert open_left == 0, f"{open_left} connection(s) left open at the service"
    assert not unretrieved, [c.get("message") for c in unretrieved]


async def test_a_cancel_while_the_session_is_configured_closes_the_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The handshake is done but session.update has not gone (its send waits: the socket's
    buffer is full) when the call ends: the connection is dropped, not left to the service."""
    service = Service()
    port = free_port()
    settings = make_settings()
    sending = asyncio.Event()

    async def send_waits(self: VoiceLiveConnection, session: dict[str, Any]) -> None:
        sending.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(VoiceLiveConnection, "configure", send_waits)
    async with serve(service.handler, "127.0.0.1", port):
        task = asyncio.create_task(
            open_session(settings, f"http://127.0.0.1:{port}", "test-key", {})
        )
        await asyncio.wait_for(sending.wait(), 5)
        assert service.open == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(100):
            if service.open == 0:
                break
            await asyncio.sleep(0.02)
        assert service.open == 0, "the half-configured session was left open"
