"""The event loop's own delay, sampled: how late a short timer fires is how long every call's
audio waited behind whatever held the loop (a slow callback, a garbage collection, a blocking
call)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog
from prometheus_client import Histogram

log = structlog.get_logger(__name__)

SAMPLE_S = 0.1  # one timer every 100 ms
WARN_MS = 50.0  # a lag this long is heard as a gap or a late barge-in: logged
WARN_EVERY_S = 10.0  # at most one warning per this many seconds (with how many were seen)


async def watch_loop(
    lag_seconds: Histogram,
    *,
    every_s: float = SAMPLE_S,
    warn_ms: float = WARN_MS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Forever: sleep `every_s`, observe how much later than that the loop woke us, and warn
    (rate-limited) when it was `warn_ms` or more."""
    last_warning = -WARN_EVERY_S
    unreported = 0
    worst_ms = 0.0
    while True:
        before = clock()
        await sleep(every_s)
        lag = max(clock() - before - every_s, 0.0)
        lag_seconds.observe(lag)
        lag_ms = lag * 1000
        if lag_ms < warn_ms:
            continue
        unreported += 1
        worst_ms = max(worst_ms, lag_ms)
        now = clock()
        if now - last_warning >= WARN_EVERY_S:
            log.warning("loop.lag", lag_ms=round(lag_ms, 1), worst_ms=round(worst_ms, 1),
                        times=unreported, threshold_ms=warn_ms)  # fmt: skip
            last_warning, unreported, worst_ms = now, 0, 0.0
