"""A resumed call's core on a fake clock: the time carried over ends the interview at the time
left, the first session gets the history before the welcome-back line, and a history that
cannot be read starts the interview afresh."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from bot.call import resume as resuming
from bot.call.commands import ToModel
from bot.endreasons import EndReason
from bot.interview.context import InterviewContext
from bot.interview.resume import PriorCall, Resumption
from bot.twilio.media import Start
from tests.call.harness import PROFILE, Harness
from tests.support.interview import fixed_line

Q1, Q2 = (q.text for q in PROFILE.questions)
EARLIER = Resumption([PriorCall("CA0", datetime(2026, 11, 24, 15, tzinfo=UTC), 540.0, [
    {"speaker": "bot", "text": Q1, "offset_ms": 1000.0},
    {"speaker": "caller", "text": "A compiler.", "offset_ms": 9000.0},
    {"speaker": "bot", "text": "Thank you.", "offset_ms": 20000.0},
])])  # fmt: skip


def sent(h: Harness) -> list[dict[str, Any]]:
    return [json.loads(c.event) for c in h.commands if isinstance(c, ToModel)]


def test_the_time_left_is_the_profiles_minus_what_was_talked() -> None:
    h = Harness(duration_s=600.0)
    assert resuming.apply(h.core, h.record, EARLIER) == 2  # question 1 was dealt with
    assert h.core.clock.remaining() == 60.0
    h.start()
    h.run_until(59.0)
    assert not h.core.time_up
    h.run_until(61.0)
    assert h.core.time_up and h.core.turns.end_reason == EndReason.TIME_LIMIT
    h.close()


def test_the_first_session_gets_the_history_then_the_welcome_back_line() -> None:
    h = Harness()
    resuming.apply(h.core, h.record, EARLIER)
    h.start()
    events = sent(h)
    kinds = [e["type"] for e in events]
    assert kinds[-1] == "response.create" and kinds.count("response.create") == 1
    assert fixed_line(events[-1]) == PROFILE.resume_greeting
    texts = [e["item"]["content"][0]["text"] for e in events if "item" in e]
    assert texts[:3] == [Q1, "A compiler.", "Thank you."]
    assert any("question 2" in t and Q2 in t for t in texts)
    assert h.record.report(None)["calls"] == ["CA0", "CA1"]
    h.close()


def test_a_fresh_call_greets_as_before() -> None:
    h = Harness()
    h.start()
    [create] = sent(h)
    assert fixed_line(create) == " ".join(PROFILE.greeting.split())
    h.close()


class Broken:
    async def resumption(self, interview_id: str, call_sid: str) -> None:
        raise ConnectionRefusedError("database down")


def test_a_history_that_cannot_be_read_starts_afresh() -> None:
    h = Harness()
    context = InterviewContext("practice", "iv_1")
    got = asyncio.run(resuming.begin(Broken(), context, "CA1", h.core, h.record))  # type: ignore[arg-type]
    assert got is None and len(h.core.history) == 0
    assert h.core.greeting == " ".join(PROFILE.greeting.split())
    assert any(e["event"] == "interview.resume_failed" for e in h.logs)
    h.close()


class Recorder:
    """An interview store that notes what a call's end told it."""

    def __init__(self, resumable: bool) -> None:
        self.resumable = resumable
        self.said: list[str] = []

    async def call_dropped(self, interview_id: str, call_sid: str, **kw: Any) -> bool:
        self.said.append(f"dropped {kw['reason']} inbound={kw['inbound']}")
        return self.resumable

    async def stream_ended(self, interview_id: str, call_sid: str) -> None:
        self.said.append("stream_ended")

    async def call_in_ended(self, interview_id: str, call_sid: str, *, failed: bool) -> None:
        self.said.append(f"call_in_ended failed={failed}")


def test_a_calls_end_tells_its_interview_what_happened() -> None:
    context = InterviewContext("practice", "iv_1")

    def ended(direction: str, reason: str, resumable: bool = True) -> list[str]:
        start = Start("MZ1", "CA1", "AC1", {"direction": direction})
        store = Recorder(resumable)
        now = datetime.now(UTC)
        asyncio.run(resuming.ended(store, context, start, reason, now, 300.0))  # type: ignore[arg-type]
        return store.said

    assert ended("outbound", EndReason.CALLER_HUNG_UP) == ["dropped caller_hung_up inbound=False"]
    assert ended("inbound", EndReason.ERROR) == ["dropped error inbound=True"]
    assert ended("outbound", EndReason.INTERVIEW_FINISHED) == ["stream_ended"]
    assert ended("inbound", EndReason.TIME_LIMIT) == ["call_in_ended failed=False"]
    # not resumable after all (resumed too often, no time left): the usual rules
    assert ended("inbound", EndReason.ERROR, resumable=False)[-1] == "call_in_ended failed=True"
    assert ended("outbound", EndReason.TWILIO_CLOSED, resumable=False)[-1] == "stream_ended"
