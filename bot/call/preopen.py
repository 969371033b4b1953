"""Voice Live sessions opened ahead of the media stream, from the voice webhook."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

from bot.interview.context import InterviewContext
from bot.timeouts import within
from bot.voicelive.client import VoiceLiveConnection, VoiceLiveUnavailable

log = structlog.get_logger(__name__)

Opener = Callable[[InterviewContext], Awaitable[VoiceLiveConnection]]


class SessionOpener:
    """Opens Voice Live sessions ahead of the media stream (from the voice webhook).

    Each session is configured for its interview (the context's profile and candidate).
    A session opened for a CallSid waits at most `ttl_s` for its stream; then it is closed.
    At most `max_pending` wait at once; past that, calls simply open theirs on arrival.
    """

    def __init__(self, open_session: Opener, ttl_s: float = 30.0, max_pending: int = 200) -> None:
        self._open = open_session
        self.ttl_s = ttl_s
        self.max_pending = max_pending
        self._pending: dict[str, tuple[asyncio.Task[VoiceLiveConnection], asyncio.TimerHandle]] = {}
        self._discarding: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._pending)

    async def open(self, context: InterviewContext) -> VoiceLiveConnection:
        """A fresh session for this interview (also to reconnect). Raises VoiceLiveUnavailable."""
        return await self._open(context)

    def prepare(self, call_sid: str, context: InterviewContext) -> None:
        """Start opening a session for this call now."""
        if call_sid in self._pending or len(self._pending) >= self.max_pending:
            return
        task = asyncio.create_task(self._open(context), name=f"preopen:{call_sid[-6:]}")
        task.add_done_callback(_quiet)
        timer = asyncio.get_running_loop().call_later(self.ttl_s, self._expire, call_sid)
        self._pending[call_sid] = (task, timer)

    async def take(self, call_sid: str, context: InterviewContext) -> VoiceLiveConnection:
        """The session prepared for this call, or a fresh one. Raises VoiceLiveUnavailable."""
        entry = self._pending.pop(call_sid, None)
        if entry is None:
            return await self._open(context)
        task, timer = entry
        timer.cancel()
        try:
            conn = await task
        except VoiceLiveUnavailable as exc:
            if not exc.retryable:
                raise
            # The early attempt failed; the caller is on the line now, so try once more.
            log.warning("voicelive.preopen_failed", reason=str(exc))
            return await self._open(context)
        if conn.close_code is not None:  # the service closed it while it waited
            log.warning("voicelive.preopened_session_closed", code=conn.close_code)
            return await self._open(context)
        log.info("voicelive.preopened_session_used")
        return conn

    def _expire(self, call_sid: str) -> None:
        entry = self._pending.pop(call_sid, None)
        if entry is not None:
            log.info("voicelive.preopened_session_expired", call_sid=call_sid)
            task = asyncio.create_task(_discard(entry[0]))
            self._discarding.add(task)  # keep a reference until it is done
            task.add_done_callback(self._discarding.discard)

    async def close(self) -> None:
        """Close every session still waiting for its stream."""
        entries = list(self._pending.values())
        self._pending.clear()
        for _task, timer in entries:
            timer.cancel()
        await asyncio.gather(*(_discard(task) for task, _ in entries), return_exceptions=True)


def _quiet(task: asyncio.Task[VoiceLiveConnection]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved; the taker (or nobody) handles it


async def _discard(task: asyncio.Task[VoiceLiveConnection]) -> None:
    if not task.done():
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError, VoiceLiveUnavailable, Exception):
        conn = await task
        await within(conn.close(), 2.0)
