"""The keeper's sessions, each read by its own task; those given up on closed in the background."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable

from bot.voicelive import events as vl
from bot.voicelive.client import VoiceLiveConnection
from bot.voicelive.deadlines import close_quietly

Deliver = Callable[[VoiceLiveConnection, vl.ServerEvent | None], None]


class Readers:
    """Reads sessions' events into `deliver` (None after a session's last event), so a session
    switched away from can still hand over the caller's words while the next one is read."""

    def __init__(self, deliver: Deliver) -> None:
        self._deliver = deliver
        self._tasks: dict[VoiceLiveConnection, asyncio.Task[None]] = {}
        self._closers: set[asyncio.Task[None]] = set()
        self.ended: weakref.WeakSet[VoiceLiveConnection] = weakref.WeakSet()  # events all read

    def read(self, conn: VoiceLiveConnection) -> None:
        """Start reading a session's events."""

        async def read() -> None:
            try:
                async for event in conn.events():
                    self._deliver(conn, event)
            finally:
                self.ended.add(conn)
                self._deliver(conn, None)

        task = asyncio.create_task(read(), name="voicelive_reader")
        self._tasks[conn] = task
        task.add_done_callback(lambda _: self._tasks.pop(conn, None))

    def abandon(self, conn: VoiceLiveConnection) -> None:
        """Stop reading a session given up on and drop its connection at once (it may not
        answer a close handshake); the close that follows in the background is a formality."""
        conn.abort()
        reader = self._tasks.pop(conn, None)
        if reader is not None:
            reader.cancel()
        task = asyncio.create_task(close_quietly(conn), name="voicelive_close")
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)

    def stop(self) -> None:
        """Stop reading every session."""
        for task in list(self._tasks.values()):
            task.cancel()

    async def close(self) -> None:
        """Stop reading; give the background closes a second, then stop them too."""
        self.stop()
        if self._closers:
            await asyncio.wait(self._closers, timeout=1.0)
            for task in list(self._closers):
                task.cancel()
