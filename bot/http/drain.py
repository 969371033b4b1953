"""Graceful drain: on SIGTERM stop taking calls, let live ones finish, then exit 0."""

from __future__ import annotations

import asyncio
import gc
import signal
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import structlog
import uvicorn

from bot.endreasons import CALLER_GONE, EndReason
from bot.runtime import Runtime

log = structlog.get_logger(__name__)

POLL_S = 0.2
WRAP_UP_LIMIT_S = 45.0  # after wrap_up: closing line, goodbye, hang-up (Call bounds its own)
ACTION_GRACE_S = 5.0  # after a call we ended, Twilio asks /twilio/stream-ended what to do next


async def _until(done: Callable[[], bool], deadline: float) -> None:
    """Poll until done() or the deadline: calls end on their own tasks, which signal nothing."""
    while not done():
        if time.monotonic() >= deadline:
            return
        await asyncio.sleep(POLL_S)


async def drain(services: Runtime, timeout_s: float) -> None:
    """Refuse new calls; wait for live ones to end, asking the rest to wrap up at timeout_s."""
    services.draining = True
    log.info("drain.started", active_calls=len(services.active), timeout_s=timeout_s)
    seen: set[str] = set()

    def calls_gone() -> bool:
        seen.update(call.start.call_sid for call in services.active)
        return not services.calls

    await _until(calls_gone, time.monotonic() + timeout_s)
    if services.active:
        calls = list(services.active)
        log.warning("drain.timeout", active_calls=len(calls), timeout_s=timeout_s)
        results = await asyncio.gather(
            *(call.wrap_up(EndReason.DRAIN) for call in calls), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                log.error("drain.wrap_up_failed", error=f"{type(result).__name__}: {result}")
        await _until(lambda: not services.active, time.monotonic() + WRAP_UP_LIMIT_S)

    def actions_answered() -> bool:  # else the caller would hear Twilio's "application error"
        return all(services.outcomes.get(sid) in (None, *CALLER_GONE) for sid in seen)

    await _until(actions_answered, time.monotonic() + ACTION_GRACE_S)
    log.info("drain.finished", active_calls=len(services.active))


class DrainingServer(uvicorn.Server):
    """uvicorn, except that SIGTERM (or a first Ctrl-C) drains before it stops.

    uvicorn on its own stops listening at once, waits a few seconds for connections, and
    re-raises the signal (exit status 143). Here the first SIGTERM/SIGINT starts `drain` while
    the server keeps answering (/readyz 503, polite TwiML); when the last call has gone it
    stops normally and the process exits 0. A second signal stops at once (status 1).
    """

    def __init__(self, config: uvicorn.Config, services: Callable[[], Runtime | None],
                 timeout_s: float) -> None:  # fmt: skip
        super().__init__(config)
        self._services = services
        self._timeout_s = timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain: asyncio.Task[None] | None = None
        self._signalled = False
        self.forced = False

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        # What is imported and built by now (~100k functions, types and modules; the store's
        # engine and compiled statements, profiles, templates, the runtime) lives as long as
        # the process: frozen out of the collector's sight, a full collection under load scans
        # only the calls' own objects instead of holding every call's audio for 60-80 ms
        # (issue 18).
        gc.collect()
        gc.freeze()

    async def serve(self, sockets: Any = None) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            await super().serve(sockets)
        finally:
            if self._drain is not None and not self._drain.done():
                self._drain.cancel()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Runs in the main thread between two bytecodes: only hand work to the loop.
        if self._signalled or self._loop is None or self._services() is None:
            if self._signalled:
                log.warning("drain.forced", signal=signal.Signals(sig).name)
                self.forced = self.force_exit = True
            self.should_exit = True  # not appended to _captured_signals: no re-raise, exit 0/1
            return
        self._signalled = True
        self._loop.call_soon_threadsafe(self._start_drain, signal.Signals(sig).name)

    def _start_drain(self, name: str) -> None:
        if self._drain is not None:
            return
        services = self._services()
        assert services is not None
        log.info("drain.signal", signal=name)
        self._drain = asyncio.create_task(drain(services, self._timeout_s), name="drain")
        self._drain.add_done_callback(self._drained)

    def _drained(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("drain.failed", error=repr(task.exception()))
        self.should_exit = True
