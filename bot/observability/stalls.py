"""What held the event loop: a task step that ran SLOW_CALLBACK_MS or longer, logged with the
task and the code it ran (where the coroutine resumed and where it next waited).

asyncio's own slow-callback report needs debug mode (far too costly in production) and uvloop
offers no hook per callback. Nearly all of our work runs in task steps, so a task factory
wraps each new task's coroutine and times every `send`/`throw` with two clock reads (about
0.3 µs a step). A watchdog thread sampling the loop's stack was tried first and dropped: a
thread waking 50 times a second cost 6% of a busy loop in GIL hand-overs. Protocol callbacks
(bytes off a socket) are not task steps and are not seen here; the lag histogram
(bot/observability/looplag.py) still counts what they cost.
"""

from __future__ import annotations

import asyncio
import collections.abc
import time
import types
from collections.abc import Coroutine, Generator
from typing import Any

import structlog
from prometheus_client import Counter

log = structlog.get_logger(__name__)

LOG_EVERY_S = 5.0  # at most one log line per this many seconds (the worst step, with a count)
DEPTH = 8  # frames kept of where the step stopped (innermost first)


def _where(frame: types.FrameType | None) -> str:
    if frame is None:
        return "?"
    path = frame.f_code.co_filename
    if "site-packages/" in path:
        path = path.rsplit("site-packages/", 1)[-1]
    elif "/bot/" in path:
        path = "bot/" + path.rsplit("/bot/", 1)[-1]
    return f"{path}:{frame.f_lineno} {frame.f_code.co_name}"


def awaiting(coro: Any, depth: int = DEPTH) -> list[str]:
    """Where a suspended coroutine waits, outermost first ('file:line function' each)."""
    out: list[str] = []
    while coro is not None and len(out) < depth:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            break
        out.append(_where(frame))
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return out


class StallWatch:
    """Counts and logs (rate-limited) task steps of `slow_ms` or more."""

    def __init__(self, slow_ms: float, counter: Counter | None = None) -> None:
        self.slow_s = slow_ms / 1000
        self.counter = counter
        self.stalls = 0  # since start
        self._unlogged = 0
        self._worst: tuple[float, str | None, str, list[str]] | None = None
        self._logged_at = -LOG_EVERY_S

    def slow(self, seconds: float, resumed_at: str, coro: Any) -> None:
        """A step of `coro` took `seconds`: it resumed at `resumed_at`."""
        self.stalls += 1
        self._unlogged += 1
        if self.counter is not None:
            self.counter.inc()
        if self._worst is None or seconds > self._worst[0]:
            task = asyncio.current_task()
            name = task.get_name() if task is not None else None
            self._worst = (seconds, name, resumed_at, awaiting(coro) or ["(finished)"])
        now = time.monotonic()
        if now - self._logged_at < LOG_EVERY_S:
            return
        worst_s, name, resumed, stopped = self._worst
        log.info("loop.slow_callback", ms=round(worst_s * 1000, 1), times=self._unlogged,
                 threshold_ms=round(self.slow_s * 1000, 1), task=name, resumed_at=resumed,
                 ran=" > ".join(stopped))  # fmt: skip
        self._logged_at, self._unlogged, self._worst = now, 0, None

    def wrap(self, coro: Coroutine[Any, Any, Any]) -> Coroutine[Any, Any, Any]:
        return _Timed(coro, self) if isinstance(coro, types.CoroutineType) else coro


class _Timed(collections.abc.Coroutine):  # type: ignore[type-arg]
    """A coroutine whose every step is timed (what the task steps through)."""

    __slots__ = ("_coro", "_watch")

    def __init__(self, coro: types.CoroutineType[Any, Any, Any], watch: StallWatch) -> None:
        self._coro = coro
        self._watch = watch

    def send(self, value: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self._coro.send(value)
        finally:
            if (spent := time.perf_counter() - t0) >= self._watch.slow_s:
                self._slow(spent)

    def throw(self, *args: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self._coro.throw(*args)
        finally:
            if (spent := time.perf_counter() - t0) >= self._watch.slow_s:
                self._slow(spent)

    def _slow(self, spent: float) -> None:
        code = self._coro.cr_code
        self._watch.slow(spent, f"{code.co_qualname}", self._coro)

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Generator[Any, None, Any]:
        return self._coro.__await__()

    # what asyncio, anyio and inspect read of a task's coroutine
    @property
    def cr_frame(self) -> types.FrameType | None:
        return self._coro.cr_frame

    @property
    def cr_running(self) -> bool:
        return self._coro.cr_running

    @property
    def cr_await(self) -> Any:
        return self._coro.cr_await

    @property
    def cr_code(self) -> types.CodeType:
        return self._coro.cr_code

    def __getattr__(self, name: str) -> Any:  # __qualname__, __name__, ...: the coroutine's
        return getattr(self._coro, name)


def install(loop: asyncio.AbstractEventLoop, watch: StallWatch) -> None:
    """Time every task created on `loop` from now on (the loop's own factory is kept)."""
    previous = loop.get_task_factory()

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Future[Any]:
        if previous is not None:
            return previous(loop, watch.wrap(coro), **kwargs)
        return asyncio.Task(watch.wrap(coro), loop=loop, **kwargs)

    loop.set_task_factory(factory)  # type: ignore[arg-type]


async def watch_stalls(slow_ms: float, counter: Counter | None = None) -> None:
    """Time every task step on this loop until cancelled (slow_ms 0: off)."""
    if slow_ms <= 0:
        return
    loop = asyncio.get_running_loop()
    previous = loop.get_task_factory()
    install(loop, StallWatch(slow_ms, counter))
    try:
        await asyncio.Event().wait()
    finally:
        loop.set_task_factory(previous)
