"""One call's record (counts, response times, usage, cost, transcript), written as it happens."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog

from bot.cost import USAGE_FIELDS, Prices, cost_usd, usage_tokens
from bot.metrics import Metrics
from bot.store.rows import percentile

log = structlog.get_logger(__name__)

FAILED_REASONS = {"error", "engine_unavailable", "voicelive_closed"}
FLUSH_TIMEOUT_S = 5.0


class CallStore(Protocol):
    """What the recorder needs of the store."""

    async def call_started(self, **fields: Any) -> None: ...
    async def call_updated(self, call_sid: str, **fields: Any) -> None: ...
    async def add_turn(self, call_sid: str, **fields: Any) -> None: ...
    async def call_ended(self, call_sid: str, **fields: Any) -> None: ...


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


class CallRecorder:
    """Collects what ops need about one call and writes it through one owned writer task.

    Writes queue (bounded) so a slow database never stalls the audio; a heartbeat rewrites
    the running summary, so a crash leaves a record that can be marked `interrupted`.
    """

    def __init__(self, store: CallStore | None, metrics: Metrics, prices: Prices, *,
                 call_sid: str, heartbeat_s: float = 5.0) -> None:  # fmt: skip
        self.store = store
        self.metrics = metrics
        self.prices = prices
        self.call_sid = call_sid
        self.heartbeat_s = heartbeat_s
        self.started_mono = time.monotonic()
        self.started_at = datetime.now(UTC)
        self.turns = 0
        self.barge_ins = 0
        self.response_ms: list[float] = []
        self.tokens = dict.fromkeys(USAGE_FIELDS, 0)
        self.cost = 0.0
        self.errors: list[dict[str, Any]] = []
        self._queue: asyncio.Queue[Callable[[], Awaitable[None]]] = asyncio.Queue(maxsize=1000)
        self._writer: asyncio.Task[None] | None = None
        self._dropped = 0

    # ---- what happens in the call -------------------------------------------------------------

    def start(self, **fields: Any) -> None:
        """The call began (fields: direction, from_masked, to_masked, instance, …)."""
        self.metrics.active_calls.inc()
        if self.store is None:
            return
        store = self.store
        self._enqueue(
            lambda: store.call_started(call_sid=self.call_sid, started_at=self.started_at, **fields)
        )
        if fields.get("direction") == "outbound":  # answered when Twilio's callback says so
            copy = getattr(store, "copy_answered_at", None)
            if copy is not None:
                self._enqueue(lambda: copy(self.call_sid))
        else:  # inbound: we answer as the stream starts
            self._enqueue(lambda: store.call_updated(self.call_sid, answered_at=self.started_at))
        self._writer = asyncio.create_task(self._write(), name="call_record")

    def at(self, mono: float) -> datetime:
        """Wall-clock time of a monotonic instant of this call."""
        return self.started_at + timedelta(seconds=mono - self.started_mono)

    def turn(self, speaker: str, text: str, at_mono: float, interrupted: bool = False) -> None:
        if speaker == "bot":  # every bot turn the caller heard, cut off or not
            self.turns += 1
        if self.store is not None:
            store = self.store
            fields = {"speaker": speaker, "text": text, "at": self.at(at_mono),
                      "offset_ms": round((at_mono - self.started_mono) * 1000, 1),
                      "interrupted": interrupted}  # fmt: skip
            self._enqueue(lambda: store.add_turn(self.call_sid, **fields))

    def barge_in(self) -> None:
        self.barge_ins += 1
        self.metrics.barge_ins.inc()

    def response_time(self, ms: float) -> None:
        self.response_ms.append(round(ms, 1))
        self.metrics.response_seconds.observe(ms / 1000)

    def usage(self, usage: dict[str, Any]) -> None:
        tokens = usage_tokens(usage)
        for name, n in tokens.items():
            self.tokens[name] += n
            if n:
                self.metrics.tokens.labels(name.removesuffix("_tokens")).inc(n)
        cost = cost_usd(tokens, self.prices)
        self.cost += cost
        self.metrics.cost_usd.inc(cost)

    def error(self, source: str, code: str | None, message: str) -> None:
        if source == "voicelive":
            self.metrics.voicelive_errors.labels(code or "unknown").inc()
        if len(self.errors) < 100:
            self.errors.append({"at": datetime.now(UTC).isoformat(), "source": source,
                                "code": code, "message": message[:500]})  # fmt: skip

    def summary(self) -> dict[str, Any]:
        return {
            "turns": self.turns,
            "barge_ins": self.barge_ins,
            "response_ms": list(self.response_ms),
            "response_ms_p50": _round(percentile(self.response_ms, 50)),
            "response_ms_p95": _round(percentile(self.response_ms, 95)),
            **self.tokens,
            "cost_usd": round(self.cost, 6),
            "errors": list(self.errors),
        }

    async def finish(self, end_reason: str) -> None:
        """The call ended: write the final record and wait (bounded) for every write."""
        self.metrics.active_calls.dec()
        self.metrics.calls.labels(end_reason).inc()
        if self.store is None or self._writer is None:
            return
        store, ended = self.store, datetime.now(UTC)
        fields = {
            **self.summary(),
            "status": "failed" if end_reason in FAILED_REASONS else "completed",
            "end_reason": end_reason,
            "ended_at": ended,
            "duration_s": round((ended - self.started_at).total_seconds(), 3),
        }
        self._enqueue(lambda: store.call_ended(self.call_sid, **fields), force=True)
        try:
            await asyncio.wait_for(self._queue.join(), FLUSH_TIMEOUT_S)
        except TimeoutError:
            log.error("record.flush_timeout", pending=self._queue.qsize())
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer

    # ---- the writer ---------------------------------------------------------------------------

    def _enqueue(self, op: Callable[[], Awaitable[None]], force: bool = False) -> None:
        try:
            self._queue.put_nowait(op)
        except asyncio.QueueFull:
            if not force:
                self._dropped += 1
                log.error("record.queue_full", dropped=self._dropped)
                return
            self._queue.get_nowait()  # the final write matters more than the oldest one
            self._queue.task_done()
            self._queue.put_nowait(op)

    async def _write(self) -> None:
        assert self.store is not None
        while True:
            try:
                op = await asyncio.wait_for(self._queue.get(), self.heartbeat_s)
            except TimeoutError:
                op, heartbeat = None, True
            else:
                heartbeat = False
            try:
                if heartbeat:
                    await self.store.call_updated(self.call_sid, **self.summary())
                elif op is not None:
                    await op()
            except Exception as exc:  # the database must never take the call down
                log.error("record.write_failed", error=f"{type(exc).__name__}: {exc}")
            finally:
                if not heartbeat:
                    self._queue.task_done()
