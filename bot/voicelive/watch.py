"""Finding a stalled Voice Live session: probe it when a debt is overdue, no pong means stalled."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import structlog
from websockets.exceptions import ConnectionClosed

from bot.voicelive.client import VoiceLiveConnection
from bot.voicelive.stall import PROBE_TIMEOUT_S, Debts

log = structlog.get_logger(__name__)

WATCH_TICK_S = 0.1  # how often the session's debts are looked at


class StallWatch:
    """Looks at the current session's debts every WATCH_TICK_S; when one is overdue, pings the
    session, and if no pong comes within PROBE_TIMEOUT_S, reports it with `stalled`."""

    def __init__(
        self,
        live: Callable[[], VoiceLiveConnection | None],
        debts: Callable[[], Debts],
        stalled: Callable[[VoiceLiveConnection, str], None],
    ) -> None:
        self._live = live  # the current session, None while there is none to watch
        self._debts = debts  # what the current session owes
        self._stalled = stalled
        self._task: asyncio.Task[None] | None = None
        self.probes = 0  # probes answered (the session was only quiet)

    def start(self) -> None:
        """Start watching (once)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="voicelive_watch")
            self._task.add_done_callback(_watch_ended)

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def stop(self) -> None:
        """Stop watching and wait until it has."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(WATCH_TICK_S)
            conn = self._live()
            owed = self._debts().overdue(time.monotonic())
            if owed is None or conn is None:
                continue
            what, owed_s = owed
            try:
                answered = await conn.probe(PROBE_TIMEOUT_S)
            except ConnectionClosed:
                continue  # a close: the reader reports it and a reconnect follows
            if answered:
                self.probes += 1
                self._debts().answered(time.monotonic())
                log.debug("voicelive.probe_answered", owed=what, owed_ms=round(owed_s * 1000))
                continue
            owed_s += PROBE_TIMEOUT_S
            log.warning("voicelive.probe_failed", owed=what, owed_ms=round(owed_s * 1000),
                        timeout_s=PROBE_TIMEOUT_S)  # fmt: skip
            self._stalled(conn, f"stalled: {what} owed for {owed_s:.1f} s, no pong")


def _watch_ended(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("voicelive.watch_failed", error=repr(task.exception()))
