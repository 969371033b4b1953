"""Resuming a dropped interview, as plain function calls on an injected clock: which ends
resume, the call-back, the budget, the window, and where the next call continues."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.endreasons import EndReason
from bot.interview import lifecycle as lc
from bot.interview import resume
from bot.interview.decisions import Attempt, Interview, Transition
from bot.interview.outcomes import CallbackForm
from bot.interview.schedule import RetryPolicy, Window, parse_hhmm, zone

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # 10:00 in New York
NY = Window(zone("America/New_York"), parse_hhmm("09:00"), parse_hhmm("20:00"))
POLICY = RetryPolicy(max_attempts=3, backoff_s=600, resume_after_s=120, resume_window_s=3600)
STARTED = T0 - timedelta(minutes=25)  # the dropped call's stream began
QUESTIONS = [
    "Tell me about a project you are proud of and the part you played in it.",
    "Describe a time you disagreed with a colleague. What happened?",
    "How do you test a change before it reaches production?",
    "What would you like to learn next, and why?",
]


def iv(status: str = "in_progress", tries: int = 1, **fields: Any) -> Interview:
    return replace(Interview("iv_1", status, tries, 1, NY), **fields)


def att(outcome: str = "in-progress", **fields: Any) -> Attempt:
    return Attempt(**{"seq": 1, "outcome": outcome, "call_sid": "CA1", **fields})


def drop(interview: Interview, attempt: Attempt | None = None, **kw: Any) -> Any:
    args: dict[str, Any] = {
        "reason": EndReason.CALLER_HUNG_UP,
        "call_started": STARTED,
        "remaining_s": 300.0,
        "inbound": False,
        "policy": POLICY,
        "now": T0,
    }
    return resume.dropped(interview, attempt or att(), **{**args, **kw})


@pytest.mark.parametrize(
    ("reason", "resumes"),
    [
        (EndReason.CALLER_HUNG_UP, True),
        (EndReason.TWILIO_CLOSED, True),
        (EndReason.TWILIO_IDLE_TIMEOUT, True),
        (EndReason.ERROR, True),
        (EndReason.ENGINE_UNAVAILABLE, True),
        (EndReason.VOICELIVE_CLOSED, True),
        (EndReason.MODEL_FAILED, True),
        (EndReason.CONFIG_REFUSED, True),
        (EndReason.INTERRUPTED, True),
        (EndReason.DRAIN, True),
        (EndReason.INTERVIEW_FINISHED, False),
        (EndReason.TIME_LIMIT, False),
        (EndReason.NO_RESPONSE, False),
        (EndReason.ONE_WAY_AUDIO, False),
        (EndReason.ANSWERING_MACHINE, False),
    ],
)
def test_which_ends_leave_the_interview_resumable(reason: str, resumes: bool) -> None:
    assert (drop(iv(), reason=reason) is not None) is resumes


def test_a_drop_is_called_back_soon_costs_no_try_and_stays_resumable_for_the_window() -> None:
    decision = drop(iv(tries=2))
    assert decision.outcome == "dropped" and decision.attempt["outcome"] == "dropped"
    assert "caller_hung_up" in decision.attempt["error_message"]
    assert "ended_at" not in decision.attempt  # a dialed call's end comes from Twilio
    until = T0 + timedelta(minutes=60)
    assert decision.interview == Transition(
        "retrying", T0 + timedelta(seconds=120), 1, (until, STARTED, 1)
    )


def test_a_call_in_that_drops_is_ended_by_the_rule() -> None:
    answered = T0 - timedelta(minutes=25)
    decision = drop(iv(), att(answered_at=answered), inbound=True)
    assert decision.attempt["call_status"] == "completed"
    assert decision.attempt["ended_at"] == T0 and decision.attempt["duration_s"] == 25 * 60


def test_twilios_completed_first_is_turned_into_a_drop() -> None:
    decision = drop(iv("completed"), att("completed"))
    assert decision is not None and decision.interview.status == "retrying"


def test_twilios_callback_after_the_drop_changes_nothing() -> None:
    dropped = drop(iv()).interview
    after = iv(dropped.status, tries=dropped.tries, resumes=1)
    form = CallbackForm(call_status="completed", sequence=5, duration_s=1500)
    decision = lc.callback(after, att("dropped"), form, POLICY, T0)
    assert decision.outcome == "dropped" and decision.interview is None


@pytest.mark.parametrize(
    ("interview", "attempt", "extra"),
    [
        (replace(iv(), attempts_total=2), att(), {}),  # an older attempt
        (iv("retrying"), att(), {}),  # already moved on
        (iv(), att("voicemail"), {}),  # never an interview
        (iv(resumes=resume.MAX_RESUMES), att(), {}),  # resumed often enough
        (iv(), att(), {"remaining_s": resume.MIN_REMAINING_S - 1}),  # no time left
        (iv(), att(), {"policy": replace(POLICY, resume_window_s=0)}),  # RESUME_WINDOW_MIN=0
    ],
)
def test_when_a_drop_does_not_resume(
    interview: Interview, attempt: Attempt, extra: dict[str, Any]
) -> None:
    assert drop(interview, attempt, **extra) is None


def test_the_sweep_does_not_know_the_time_left_and_still_resumes() -> None:
    assert drop(iv(), reason=EndReason.INTERRUPTED, remaining_s=None) is not None


def test_a_resumed_call_that_drops_keeps_the_first_calls_start_and_counts_resumes() -> None:
    first = T0 - timedelta(hours=1)
    resumed = iv(resume_until=T0 - timedelta(minutes=20), resume_since=first, resumes=1)
    decision = drop(resumed, call_started=T0 - timedelta(minutes=30))  # within the window
    assert decision.interview.resume == (T0 + timedelta(minutes=60), first, 2)
    late = drop(resumed, call_started=T0 - timedelta(minutes=10))  # started after it closed
    assert late.interview.resume == (T0 + timedelta(minutes=60), T0 - timedelta(minutes=10), 2)


def test_continues_only_within_the_window() -> None:
    until = T0 + timedelta(minutes=60)
    dropped = iv("retrying", resume_until=until, resume_since=STARTED)
    assert resume.continues(dropped, T0 + timedelta(minutes=2))
    assert resume.continues(dropped, until)
    assert not resume.continues(dropped, until + timedelta(seconds=1))  # starts over
    assert not resume.continues(iv("scheduled"), T0)


def test_the_call_back_waits_for_the_calling_window() -> None:
    evening = datetime(2026, 11, 25, 0, 59, tzinfo=UTC)  # 19:59 in New York
    decision = drop(iv(), now=evening)
    morning = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)  # 09:00 the next day
    assert decision.interview.next_attempt_at == morning


def bot(text: str) -> dict[str, Any]:
    return {"speaker": "bot", "text": text}


def caller(text: str) -> dict[str, Any]:
    return {"speaker": "caller", "text": text}


@pytest.mark.parametrize(
    ("transcript", "assessed", "expected"),
    [
        ([], [], 1),
        ([bot("Hello!"), caller("hi")], [], 1),
        ([bot(QUESTIONS[0]), caller("a compiler"), bot(QUESTIONS[1])], [], 2),  # asked, no answer
        ([bot(QUESTIONS[0]), caller("x"), bot(QUESTIONS[1]), caller("y"), bot("Thanks.")], [], 3),
        ([bot(QUESTIONS[0]), caller("x"), bot(QUESTIONS[1])], [1, 2], 3),  # assessed
        ([bot(QUESTIONS[2])], [], 3),  # 1 and 2 were skipped with #
        ([bot(QUESTIONS[3]), caller("Rust"), bot("Great, thank you.")], [], None),  # all done
    ],
)
def test_next_question(
    transcript: list[dict[str, Any]], assessed: list[int | None], expected: int | None
) -> None:
    assert resume.next_question(QUESTIONS, transcript, assessed) == expected


def test_the_note_names_the_next_question_and_the_time() -> None:
    said = resume.note(QUESTIONS, 3, 150, 600)
    assert "question 3" in said and QUESTIONS[2] in said and "about 2 minutes" in said
    assert "end_interview" in resume.note(QUESTIONS, None, 150, 600)


def test_a_resumption_orders_every_calls_entries_and_adds_their_time() -> None:
    one = resume.PriorCall(
        "CA1", STARTED, 100.0,
        [{"speaker": "bot", "text": "q1", "offset_ms": 10.0},
         {"speaker": "caller", "text": "a1", "offset_ms": 900.0}],
        [{"question": "q1", "score": 4, "offset_ms": 950.0}],
        [{"key": "repeat", "offset_ms": 500.0}],
    )  # fmt: skip
    two = resume.PriorCall("CA2", T0, 20.0, [{"speaker": "bot", "text": "q2", "offset_ms": 5.0}])
    found = resume.Resumption([one, two])
    assert found.talked_s == 120.0 and found.call_sids == ["CA1", "CA2"]
    kinds = [(kind, e.get("text") or e.get("key") or e.get("score")) for kind, e in found.events()]
    assert kinds == [("turn", "q1"), ("key", "repeat"), ("turn", "a1"), ("assessment", 4),
                     ("turn", "q2")]  # fmt: skip
    assert [t["call_sid"] for t in found.tagged("transcript")] == ["CA1", "CA1", "CA2"]


def test_twilios_completed_waits_while_the_stream_is_ours_then_the_bridge_moves_it() -> None:
    form = CallbackForm(call_status="completed", sequence=5)
    assert lc.callback(iv(), att(stream="connected"), form, POLICY, T0).interview is None
    assert lc.callback(iv(), att(), form, POLICY, T0).interview == Transition("completed")
    ended = resume.stream_ended(iv(), att("completed", stream="connected"), POLICY, T0)
    assert ended.attempt == {"stream": "ended"} and ended.interview == Transition("completed")
    assert resume.stream_ended(iv(), att(stream="connected"), POLICY, T0).interview is None
    after = lc.callback(iv(), att(stream="ended"), form, POLICY, T0)  # Twilio after the bridge
    assert after.interview == Transition("completed")
