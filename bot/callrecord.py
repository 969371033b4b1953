"""One call's record (counts, response times, usage, cost, transcript), written as it happens."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog

from bot import telemetry
from bot.cost import USAGE_FIELDS, Prices, cached_split_estimated, cost_usd, usage_tokens
from bot.interview.profiles import Profile
from bot.interview.report import build_report
from bot.interview.tools import Assessment
from bot.metrics import Metrics
from bot.store.rows import percentile

log = structlog.get_logger(__name__)

# Ends that failed on our side: the record says `failed`, the caller hears the apology, and an
# interview taken by code is retried.
FAILED_REASONS = {
    "error",
    "engine_unavailable",
    "voicelive_closed",
    "model_failed",  # responses failed and no audio came for 10 s (bot/continuity.py)
    "config_refused",  # Voice Live refused an essential part of the session's configuration
}
FLUSH_TIMEOUT_S = 5.0
MAX_KEPT = 5000  # transcript turns, assessments and key presses kept in memory for the report


class CallStore(Protocol):
    """What the recorder needs of the store."""

    async def call_started(self, **fields: Any) -> None: ...
    async def call_updated(self, call_sid: str, **fields: Any) -> None: ...
    async def add_turn(self, call_sid: str, **fields: Any) -> None: ...
    async def call_ended(self, call_sid: str, **fields: Any) -> None: ...
    async def add_assessment(self, call_sid: str, **fields: Any) -> None: ...
    async def turn_cut_off(self, call_sid: str, *, at: datetime) -> None: ...


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


class CallRecorder:
    """Collects what ops need about one call and writes it through one owned writer task.

    Writes queue (bounded) so a slow database never stalls the audio; a heartbeat rewrites
    the running summary, so a crash leaves a record that can be marked `interrupted`.
    """

    def __init__(self, store: CallStore | None, metrics: Metrics, prices: Prices, *,
                 call_sid: str, heartbeat_s: float = 5.0,
                 profile: Profile | None = None) -> None:  # fmt: skip
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
        self.cached_split = "reported"  # "estimated" once a usage had cached tokens, no details
        self.cost = 0.0
        self.errors: list[dict[str, Any]] = []
        self.profile = profile  # with a profile, the call's report is written when it ends
        self.transcript: list[dict[str, Any]] = []
        self.assessments: list[dict[str, Any]] = []
        self.keys: list[dict[str, Any]] = []
        self._bot_turns: dict[str, tuple[int, datetime]] = {}  # item id -> transcript index, at
        self._queue: asyncio.Queue[Callable[[], Awaitable[None]]] = asyncio.Queue(maxsize=1000)
        self._writer: asyncio.Task[None] | None = None
        self._dropped = 0
        self.trace = telemetry.call_trace(call_sid)  # a no-op unless telemetry is on

    # ---- what happens in the call -------------------------------------------------------------

    def start(self, **fields: Any) -> None:
        """The call began (fields: direction, from_masked, to_masked, instance, …)."""
        self.metrics.active_calls.inc()
        self.trace.begin()
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

    def turn(self, speaker: str, text: str, at_mono: float, interrupted: bool = False,
             item_id: str | None = None) -> None:  # fmt: skip
        if speaker == "bot":  # every bot turn the caller heard, cut off or not
            self.turns += 1
        self.trace.turn(speaker, at_mono, interrupted, len(text))
        fields = {"speaker": speaker, "text": text, "at": self.at(at_mono),
                  "offset_ms": self._offset_ms(at_mono), "interrupted": interrupted}  # fmt: skip
        if len(self.transcript) < MAX_KEPT:
            if item_id is not None:
                self._bot_turns[item_id] = (len(self.transcript), fields["at"])
            self.transcript.append({**fields, "at": fields["at"].isoformat()})
        if self.store is not None:
            store = self.store
            self._enqueue(lambda: store.add_turn(self.call_sid, **fields))

    def cut_off(self, item_id: str) -> None:
        """A bot turn already recorded (its response was done) was cut off while playing."""
        found = self._bot_turns.pop(item_id, None)
        if found is None:
            return
        index, at = found
        self.transcript[index]["interrupted"] = True
        if self.store is not None:
            store = self.store
            self._enqueue(lambda: store.turn_cut_off(self.call_sid, at=at))

    def _offset_ms(self, mono: float) -> float:
        return round((mono - self.started_mono) * 1000, 1)

    def assessment(self, assessment: Assessment, at_mono: float | None = None) -> None:
        """The model assessed an answer (record_assessment): kept for the report and stored."""
        at_mono = time.monotonic() if at_mono is None else at_mono
        fields = {"question": assessment.question, "score": assessment.score,
                  "evidence": assessment.evidence, "at": self.at(at_mono),
                  "offset_ms": self._offset_ms(at_mono)}  # fmt: skip
        if len(self.assessments) < MAX_KEPT:
            self.assessments.append(
                {"number": assessment.number, **fields, "at": fields["at"].isoformat()}
            )
        if self.store is not None:
            store = self.store
            self._enqueue(lambda: store.add_assessment(self.call_sid, **fields))

    def key(self, action: str, at_mono: float | None = None) -> None:
        """The caller pressed a key that means something (repeat, skip): kept for the report."""
        at_mono = time.monotonic() if at_mono is None else at_mono
        if len(self.keys) < MAX_KEPT:
            self.keys.append({"key": action, "offset_ms": self._offset_ms(at_mono)})

    def report(self, end_reason: str | None) -> dict[str, Any] | None:
        """The interview report (None without a profile)."""
        if self.profile is None:
            return None
        return build_report(self.profile, self.transcript, self.assessments, self.keys, end_reason)

    def barge_in(self) -> None:
        self.barge_ins += 1
        self.metrics.barge_ins.inc()

    def response_time(self, ms: float) -> None:
        self.response_ms.append(round(ms, 1))
        self.metrics.response_seconds.observe(ms / 1000)
        self.trace.response_time(ms)

    def usage(self, usage: dict[str, Any]) -> None:
        tokens = usage_tokens(usage)
        if cached_split_estimated(usage):
            self.cached_split = "estimated"
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
            "cached_split": self.cached_split,
            "cost_usd": round(self.cost, 6),
            "errors": list(self.errors),
        }

    async def finish(self, end_reason: str) -> None:
        """The call ended: write the final record and wait (bounded) for every write."""
        self.metrics.active_calls.dec()
        self.metrics.calls.labels(end_reason).inc()
        self.trace.end(end_reason, self.summary())
        if self.store is None or self._writer is None:
            return
        store, ended = self.store, datetime.now(UTC)
        try:
            report = self.report(end_reason)
        except Exception as exc:  # a report bug must not lose the call's record
            log.exception("record.report_failed", error=f"{type(exc).__name__}: {exc}")
            report = None
        fields = {
            "report": report,
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


async def report_interrupted(store: Any, profiles: dict[str, Profile], default: str) -> int:
    """Write the report of calls whose replica died mid-call, from their stored turns and
    assessments (the sweeper calls this after marking them interrupted). Returns how many."""
    count = 0
    for call in await store.interrupted_without_report():
        profile = profiles.get(call.get("profile") or "") or profiles[default]
        assessments = [
            {"number": profile.question_number(a["question"]), **a} for a in call["assessments"]
        ]
        try:
            report = build_report(profile, call["transcript"], assessments, (), call["end_reason"])
        except Exception as exc:  # stored once, so a bad call is not retried on every sweep
            log.exception("record.report_failed", call_sid=call["call_sid"])
            report = {"error": f"report failed: {type(exc).__name__}"}
        await store.set_report(call["call_sid"], report)
        count += 1
    if count:
        log.info("record.interrupted_reports_written", count=count)
    return count
