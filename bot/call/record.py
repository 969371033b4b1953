"""One call's record (counts, response times, usage, cost, transcript), written as it happens."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from bot.call.record_writer import CallStore, RecordWriter
from bot.cost import USAGE_FIELDS, Prices, cached_split_estimated, cost_usd, usage_tokens
from bot.endreasons import FAILED
from bot.interview.profiles import Profile
from bot.interview.report import build_report
from bot.interview.tools import Assessment
from bot.observability import telemetry
from bot.observability.metrics import Metrics
from bot.store.journal import Journal
from bot.store.rows import percentile
from bot.timeouts import within

log = structlog.get_logger(__name__)

FLUSH_TIMEOUT_S = 5.0  # at the end, then what is still unwritten goes to the journal
MAX_KEPT = 5000  # transcript turns, assessments and key presses kept in memory for the report
MAX_EVENTS = 2000  # timeline events kept (and stored) per call
STATE_EVERY_S = 1.0  # a state change is written at most this often (the heartbeat writes the last)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


class CallRecorder(RecordWriter):
    """Collects what ops need about one call and writes it through one owned writer task.

    Writes queue (bounded) so a slow database never stalls the audio, wait in order while
    the database is down (retried with backoff), and go to the journal if it is still down
    when the call ends; a heartbeat rewrites the running summary, so a crash leaves a record
    that can be marked `interrupted`.
    """

    def __init__(self, store: CallStore | None, metrics: Metrics, prices: Prices, *,
                 call_sid: str, heartbeat_s: float = 5.0, profile: Profile | None = None,
                 journal: Journal | None = None) -> None:  # fmt: skip
        super().__init__(store, metrics, call_sid, heartbeat_s, journal)
        self.prices = prices
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
        self.events: list[dict[str, Any]] = []  # the timeline the console draws
        self.current_state = "greeting"
        self._state_written = -STATE_EVERY_S
        self.prior_calls: list[str] = []  # a resumed interview's earlier calls (their CallSids)
        self._bot_turns: dict[str, tuple[int, datetime]] = {}  # item id -> transcript index, at
        self.trace = telemetry.call_trace(call_sid)  # a no-op unless telemetry is on
        self.recording_tap: Any = None  # the call's recording (bot/recording/), closed at the end
        self.recording_consent = "off"  # what the call starts with (bot/call/consent.py)

    # ---- what happens in the call -------------------------------------------------------------

    def start(self, **fields: Any) -> None:
        """The call began (fields: direction, from_masked, to_masked, instance, …)."""
        self.metrics.active_calls.inc()
        self.trace.begin()
        if self.store is None:
            return
        self._enqueue("call_started", started_at=self.started_at, **fields)
        if fields.get("direction") == "outbound":  # answered when Twilio's callback says so
            self._enqueue("copy_answered_at")
        else:  # inbound: we answer as the stream starts
            self._enqueue("call_updated", answered_at=self.started_at)
        self._writer = asyncio.create_task(self._write(), name="call_record")

    def at(self, mono: float) -> datetime:
        """Wall-clock time of a monotonic instant of this call."""
        return self.started_at + timedelta(seconds=mono - self.started_mono)

    def turn(self, speaker: str, text: str, at_mono: float, interrupted: bool = False,
             item_id: str | None = None, duration_ms: float | None = None) -> None:  # fmt: skip
        self.event(
            "speech", at_mono, who=speaker, duration_ms=_round(duration_ms), interrupted=interrupted
        )
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
            self._enqueue("add_turn", **fields)

    def cut_off(self, item_id: str) -> None:
        """A bot turn already recorded (its response was done) was cut off while playing."""
        found = self._bot_turns.pop(item_id, None)
        if found is None:
            return
        index, at = found
        self.transcript[index]["interrupted"] = True
        for event in reversed(self.events):
            if event.get("kind") == "speech" and event.get("who") == "bot":
                event["interrupted"] = True
                break
        if self.store is not None:
            self._enqueue("turn_cut_off", at=at)

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
            self._enqueue("add_assessment", **fields)

    def key(self, action: str, at_mono: float | None = None) -> None:
        """The caller pressed a key that means something (repeat, skip): kept for the report."""
        at_mono = time.monotonic() if at_mono is None else at_mono
        if len(self.keys) < MAX_KEPT:
            self.keys.append({"key": action, "offset_ms": self._offset_ms(at_mono)})
        self.event("key", at_mono, key=action)

    def event(self, kind: str, at_mono: float | None = None, **data: Any) -> None:
        """A point on the call's timeline (speech, barge_in, key, response, reconnect, silence
        prompt …): kept in memory and stored with the record's summary."""
        at_mono = time.monotonic() if at_mono is None else at_mono
        if len(self.events) < MAX_EVENTS:
            self.events.append({"kind": kind, "offset_ms": self._offset_ms(at_mono), **data})

    def state(self, name: str) -> None:
        """The call's state for the console (greeting, caller_speaking, bot_speaking,
        reconnecting, wrapping_up): written at most once a second, the last by the heartbeat."""
        if name == self.current_state:
            return
        self.current_state = name
        now = time.monotonic()
        if self._writer is not None and now - self._state_written >= STATE_EVERY_S:
            self._state_written = now
            self._enqueue("call_updated", state=name)

    def recording(self, **fields: Any) -> None:
        """Recording consent (and when), or the recording's size and length: in the record.
        An opt-out stops the recording now (its thread deletes what was written)."""
        if fields.get("recording_consent") == "opted_out" and self.recording_tap is not None:
            self.recording_tap.stop()
        if self.store is not None:
            self._enqueue("call_updated", **fields)

    def resumed_from(
        self,
        calls: list[str],
        transcript: list[dict[str, Any]],
        assessments: list[dict[str, Any]],
        keys: list[dict[str, Any]],
    ) -> None:
        """A resumed interview: the earlier calls' entries (each with its call_sid) open this
        call's report, so it is the interview's one report; the call's own rows stay its own."""
        self.prior_calls = list(calls)
        self.transcript[:0] = transcript[:MAX_KEPT]
        self.assessments[:0] = assessments[:MAX_KEPT]
        self.keys[:0] = keys[:MAX_KEPT]

    def report(self, end_reason: str | None) -> dict[str, Any] | None:
        """The interview report (None without a profile)."""
        if self.profile is None:
            return None
        report = build_report(
            self.profile, self.transcript, self.assessments, self.keys, end_reason
        )
        if self.prior_calls:  # one report across the interview's calls, oldest first
            report["calls"] = [*self.prior_calls, self.call_sid]
        return report

    def barge_in(self) -> None:
        self.barge_ins += 1
        self.event("barge_in")
        self.metrics.barge_ins.inc()

    def response_time(self, ms: float) -> None:
        self.response_ms.append(round(ms, 1))
        self.event("response", time.monotonic() - ms / 1000, ms=round(ms, 1))
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

    def bot_event(self, code: str, message: str, at_mono: float | None = None) -> None:
        """Something the bot did about the call (a silence check-in, …): a point on the
        timeline (`event`), and an entry in the record's `errors` list with source `bot`, as
        session recycles are, so `bot calls show` lists it with its words."""
        at_mono = time.monotonic() if at_mono is None else at_mono
        self.event(code, at_mono)
        if len(self.errors) < 100:
            self.errors.append({"at": self.at(at_mono).isoformat(), "source": "bot",
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
            "state": self.current_state,
            "events": list(self.events),
        }

    async def finish(self, end_reason: str) -> None:
        """The call ended: write the final record and wait (bounded) for every write; what
        the database has not taken by then goes to the journal, in order."""
        self.metrics.active_calls.dec()
        self.metrics.calls.labels(end_reason).inc()
        self.trace.end(end_reason, self.summary())
        self._count_usage()
        saved = await self.recording_tap.close() if self.recording_tap is not None else None
        if self.store is None or self._writer is None:
            return
        if saved is not None:
            self.recording(recording_bytes=saved.bytes, recording_duration_s=saved.duration_s)
        ended = datetime.now(UTC)
        try:
            report = self.report(end_reason)
        except Exception as exc:  # a report bug must not lose the call's record
            log.exception("record.report_failed", error=f"{type(exc).__name__}: {exc}")
            report = None
        fields = {
            "report": report,
            **self.summary(),
            "status": "failed" if end_reason in FAILED else "completed",
            "end_reason": end_reason,
            "ended_at": ended,
            "duration_s": round((ended - self.started_at).total_seconds(), 3),
        }
        self._enqueue("call_ended", force=True, **fields)
        with contextlib.suppress(TimeoutError):
            await within(self._idle.wait(), FLUSH_TIMEOUT_S)
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        if self._pending:  # the database is still down (a write in flight is kept, too)
            await self._save_to_journal()

    def _count_usage(self) -> None:
        profile = self.profile.name if self.profile is not None else ""
        self.metrics.usage_calls.labels(profile).inc()
        self.metrics.usage_call_seconds.labels(profile).inc(time.monotonic() - self.started_mono)
        self.metrics.usage_tokens.labels(profile).inc(sum(self.tokens.values()))
        self.metrics.usage_cost_usd.labels(profile).inc(self.cost)


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
