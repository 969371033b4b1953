"""A send to Voice Live gets a deadline only when it could wait: over a real socket, one whose
peer reads gets none (and goes out), one whose peer stopped reading times out."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.protocol import State

from bot.voicelive import deadlines
from bot.voicelive.client import VoiceLiveConnection


async def test_a_send_waits_for_nothing_until_the_peer_stops_reading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(deadlines, "SEND_TIMEOUT_S", 0.5)
    timers: list[float | None] = []
    real_timeout = asyncio.timeout

    def counted(delay: float | None) -> asyncio.Timeout:
        timers.append(delay)
        return real_timeout(delay)

    got: list[str] = []
    first = asyncio.Event()
    release = asyncio.Event()

    async def service(ws: ServerConnection) -> None:
        """Reads one event, then hangs: open, never reading again (its buffers fill)."""
        got.append(str(await ws.recv()))
        first.set()
        ws.transport.pause_reading()
        await release.wait()

    async with serve(service, "127.0.0.1", 0, close_timeout=0.5) as server:
        port = server.sockets[0].getsockname()[1]
        try:
            async with asyncio.timeout(20), connect(f"ws://127.0.0.1:{port}", compression=None,
                                                    close_timeout=0.5) as ws:  # fmt: skip
                conn = VoiceLiveConnection(ws)
                frame = "x" * 1300  # an append of 20 ms of caller audio (PCM16 24 kHz, base64)
                assert conn.sends_at_once(frame)
                monkeypatch.setattr(deadlines.asyncio, "timeout", counted)
                await deadlines.send_within(conn, frame)
                assert timers == []  # it could not wait: no deadline was set
                await first.wait()
                assert got == [frame]
                big = "y" * 64 * 1024
                sent = 0
                with pytest.raises(TimeoutError):
                    for sent in range(4000):  # noqa: B007 (how many went before one waited)
                        await deadlines.send_within(conn, big)
                monkeypatch.undo()
                assert 0 < sent < 4000
                assert timers and timers[-1] == 0.5  # the send that waited had its deadline
                assert not conn.sends_at_once(frame)
                ws.transport.abort()  # the timed-out send is half-written: no close handshake
        finally:
            release.set()


class _Transport:
    def is_closing(self) -> bool:
        return False

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return 16384, 65536

    def get_write_buffer_size(self) -> int:
        return 0


class _Closing:
    """A connection the service has begun to close: its socket is still open, its state not."""

    state = State.CLOSING
    transport = _Transport()


def test_a_connection_that_is_closing_never_sends_at_once() -> None:
    # A send on it waits for the close to finish: it must keep its deadline.
    assert not VoiceLiveConnection(_Closing()).sends_at_once("x" * 1300)  # type: ignore[arg-type]
    _Closing.state = State.OPEN
    try:
        assert VoiceLiveConnection(_Closing()).sends_at_once("x" * 1300)  # type: ignore[arg-type]
    finally:
        _Closing.state = State.CLOSING
