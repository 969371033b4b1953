"""Garbage-collection pauses, timed: every collection holds the event loop (and every call's
audio) for as long as it runs, so each is observed by generation and a long one is logged."""

from __future__ import annotations

import gc
import time
from typing import Any

import structlog
from prometheus_client import Histogram

log = structlog.get_logger(__name__)

WARN_MS = 20.0  # a pause this long is a late frame for every call: logged (rate-limited)
WARN_EVERY_S = 10.0


class GcPauses:
    """Installed as a `gc.callbacks` entry: times each collection into `pauses` (labelled by
    generation) and logs one warning per WARN_EVERY_S for pauses of WARN_MS or more."""

    def __init__(self, pauses: Histogram, warn_ms: float = WARN_MS) -> None:
        self.pauses = pauses
        self.warn_ms = warn_ms
        self._by_gen = [pauses.labels(generation=str(g)) for g in range(3)]
        self._started = 0.0
        self._last_warning = -WARN_EVERY_S
        self._unreported = 0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        seconds = time.perf_counter() - self._started
        generation = int(info.get("generation", 2))
        self._by_gen[min(max(generation, 0), 2)].observe(seconds)
        if seconds * 1000 < self.warn_ms:
            return
        self._unreported += 1
        now = time.monotonic()
        if now - self._last_warning >= WARN_EVERY_S:
            log.warning("gc.pause", ms=round(seconds * 1000, 1), generation=generation,
                        collected=info.get("collected"), times=self._unreported,
                        tracked=len(gc.get_objects(generation)))  # fmt: skip
            self._last_warning, self._unreported = now, 0

    def install(self) -> None:
        if self not in gc.callbacks:
            gc.callbacks.append(self)

    def remove(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)
