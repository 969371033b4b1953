"""Writing one call's record in order: a queue of writes to the database, retried through an
outage, a heartbeat while nothing changes, and the journal for what the database never took."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from datetime import datetime
from typing import Any, Protocol

import structlog

from bot.observability.metrics import Metrics
from bot.store.journal import Journal
from bot.store.record_writes import WRITE_TIMEOUT_S, Backoff, Write, apply, unavailable
from bot.timeouts import within

log = structlog.get_logger("bot.call.record")

MAX_PENDING = 10_000  # writes waiting for the database; past it new ones (not the end) are lost


class CallStore(Protocol):
    """What the recorder needs of the store."""

    async def call_started(self, **fields: Any) -> None: ...
    async def call_updated(self, call_sid: str, **fields: Any) -> None: ...
    async def add_turn(self, call_sid: str, **fields: Any) -> None: ...
    async def call_ended(self, call_sid: str, **fields: Any) -> None: ...
    async def add_assessment(self, call_sid: str, **fields: Any) -> None: ...
    async def turn_cut_off(self, call_sid: str, *, at: datetime) -> None: ...


class RecordWriter:
    """The write queue under a CallRecorder: `_enqueue` in the call, `_write` as its task."""

    def __init__(self, store: CallStore | None, metrics: Metrics, call_sid: str,
                 heartbeat_s: float, journal: Journal | None) -> None:  # fmt: skip
        self.store = store
        self.metrics = metrics
        self.call_sid = call_sid
        self.heartbeat_s = heartbeat_s
        self.journal = journal
        self._pending: deque[Write] = deque()
        self._added = asyncio.Event()
        self._idle = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._dropped = 0
        self._down_since: float | None = None  # the database stopped answering (monotonic)

    def summary(self) -> dict[str, Any]:
        """What the heartbeat writes (the recorder's counts)."""
        raise NotImplementedError

    def _enqueue(self, op: str, force: bool = False, **fields: Any) -> None:
        if len(self._pending) >= MAX_PENDING and not force:
            self._dropped += 1  # ~MAX_PENDING writes of one call: hours of an outage
            if self._dropped == 1 or self._dropped % 1000 == 0:
                log.error("record.queue_full", dropped=self._dropped, pending=len(self._pending))
            return
        self._pending.append(Write(op, self.call_sid, fields))
        self.metrics.record_writes_pending.inc()
        self._idle.clear()
        self._added.set()

    def _done(self, count: int = 1) -> None:
        for _ in range(count):
            self._pending.popleft()
        self.metrics.record_writes_pending.dec(count)

    async def _save_to_journal(self) -> None:
        writes = list(self._pending)
        try:
            if self.journal is None:
                raise OSError("no journal")
            await self.journal.asave(self.call_sid, writes)
        except Exception as exc:  # a full disk: said loudly, the call's end goes on
            log.error("record.journal_failed", call_sid=self.call_sid, writes_lost=len(writes),
                      error=f"{type(exc).__name__}: {exc}")  # fmt: skip
        self._done(len(writes))

    def _unavailable(self, exc: BaseException) -> None:
        """The database did not answer: said once per outage (per call)."""
        if self._down_since is None:
            self._down_since = time.monotonic()
            error = f"{type(exc).__name__}: {exc}"
            log.warning("record.db_unavailable", call_sid=self.call_sid,
                        pending=len(self._pending), error=error)  # fmt: skip

    def _available(self) -> None:
        if self._down_since is not None:
            down_s = time.monotonic() - self._down_since
            log.info("record.db_available", call_sid=self.call_sid, down_s=round(down_s, 1))
            self._down_since = None
            if down_s >= self.heartbeat_s:  # a sweeper may have taken the call for dead
                self._pending.insert(min(1, len(self._pending)),
                                     Write("call_resumed", self.call_sid))  # fmt: skip
                self.metrics.record_writes_pending.inc()
                self._idle.clear()

    async def _write(self) -> None:
        """Write the pending writes in order; the head is retried until the database answers."""
        assert self.store is not None
        backoff = Backoff()
        while True:
            if not self._pending:
                self._idle.set()
                self._added.clear()
                try:
                    await within(self._added.wait(), self.heartbeat_s)
                except TimeoutError:
                    await self._heartbeat()
                continue
            write = self._pending[0]
            try:
                await apply(self.store, write)
            except Exception as exc:  # the database must never take the call down
                if unavailable(exc):
                    self._unavailable(exc)
                    self.metrics.record_write_retries.inc()
                    await asyncio.sleep(backoff.next())
                    continue
                log.error("record.write_failed", op=write.op,
                          error=f"{type(exc).__name__}: {exc}")  # fmt: skip
            else:
                self._available()
                backoff.reset()
            self._done()

    async def _heartbeat(self) -> None:
        assert self.store is not None
        try:
            async with asyncio.timeout(WRITE_TIMEOUT_S):
                await self.store.call_updated(self.call_sid, **self.summary())
        except Exception as exc:  # superseded by the next one (and the final record)
            if unavailable(exc):
                self._unavailable(exc)
            else:
                log.error("record.write_failed", op="heartbeat",
                          error=f"{type(exc).__name__}: {exc}")  # fmt: skip
        else:
            self._available()
