"""The interview lifecycle rules as plain function calls: every branch of what an event writes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.interview import lifecycle as lc
from bot.interview.decisions import Attempt, Interview, StuckCall, Transition
from bot.interview.outcomes import CallbackForm, integer, timestamp
from bot.interview.schedule import InvalidField, RetryPolicy, Window, parse_hhmm, zone

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # 10:00 in New York
NY = Window(zone("America/New_York"), parse_hhmm("09:00"), parse_hhmm("20:00"))
POLICY = RetryPolicy(max_attempts=3, backoff_s=600, backoff_max_s=7200)
LATER = T0 + timedelta(minutes=10)  # the first retry's time
SID = "CA" + "1" * 32


def iv(status: str = "dialing", tries: int = 1, total: int = 1) -> Interview:
    return Interview("iv_1", status, tries, total, NY)


def att(**fields: Any) -> Attempt:
    return Attempt(**{"seq": 1, "outcome": "queued", **fields})


@pytest.mark.parametrize(
    ("status", "outcome", "expected"),
    [
        ("dialing", "ringing", None),  # still ringing: no change
        ("dialing", "dialing", None),  # not an outcome Twilio gives: no change
        ("dialing", "in-progress", Transition("in_progress")),
        ("in_progress", "in-progress", None),
        ("retrying", "in-progress", None),
        ("dialing", "completed", Transition("completed")),
        ("in_progress", "completed", Transition("completed")),
        ("completed", "completed", None),
        ("retrying", "completed", None),
        ("in_progress", "fax", Transition("failed")),
        ("dialing", "rejected", Transition("failed")),
        ("completed", "fax", Transition("failed")),  # a late fax verdict
        ("retrying", "rejected", None),
        ("dialing", "busy", Transition("retrying", LATER)),
        ("in_progress", "transient_error", Transition("retrying", LATER)),
        ("dialing", "lost", Transition("retrying", LATER)),
        ("completed", "voicemail", Transition("retrying", LATER)),  # a late machine verdict
        ("completed", "busy", None),
        ("cancelled", "busy", None),
        ("failed", "no-answer", None),
    ],
)
def test_advance_from_each_status(status: str, outcome: str, expected: Transition | None) -> None:
    assert lc.advance(iv(status), outcome, POLICY, T0) == expected


def test_advance_fails_when_the_attempts_are_used_up_and_retries_inside_the_window() -> None:
    assert lc.advance(iv(tries=3), "busy", POLICY, T0) == Transition("failed")
    evening = datetime(2026, 11, 25, 0, 55, tzinfo=UTC)  # 19:55 NY: 20:05 is after the window
    opening = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    assert lc.advance(iv(), "no-answer", POLICY, evening) == Transition("retrying", opening)


def test_created_fills_defaults_and_checks_the_schedule() -> None:
    fields = {
        "candidate_name": "Ada",
        "phone": "+14155550142",
        "profile": "practice",
        "timezone": "America/New_York",
        "scheduled_at": T0,
    }
    row = lc.created(fields, T0)
    assert (row["window_start"], row["window_end"], row["role"]) == ("09:00", "20:00", None)
    assert (row["status"], row["next_attempt_at"], row["tries"], row["attempts_total"]) == (
        "scheduled",
        T0,
        0,
        0,
    )
    assert row["created_at"] == row["updated_at"] == T0
    with pytest.raises(InvalidField, match="outside"):
        lc.created({**fields, "window_start": "11:00"}, T0)


def test_rescheduled_and_cancelled_refuse_a_call_under_way() -> None:
    row = {
        "status": "failed",
        "timezone": "America/New_York",
        "window_start": "09:00",
        "window_end": "20:00",
        "scheduled_at": T0,
    }
    later = T0 + timedelta(hours=1)
    assert lc.rescheduled(row, {"scheduled_at": later}, T0) == {
        "scheduled_at": later,
        "status": "scheduled",
        "next_attempt_at": later,
        "tries": 0,
        "resume_until": None,  # a fresh start: nothing of earlier calls resumes
        "resume_since": None,
        "resumes": 0,
        "updated_at": T0,
    }
    with pytest.raises(InvalidField, match="outside"):  # the merged row is checked
        lc.rescheduled(row, {"timezone": "Asia/Tokyo"}, T0)
    for status in ("dialing", "in_progress", "completed", "cancelled"):
        with pytest.raises(lc.Conflict, match=f"a {status} interview cannot be changed"):
            lc.rescheduled({**row, "status": status}, {}, T0)
    for status in lc.CANCELLABLE:
        assert lc.cancelled(status, T0) == {
            "status": "cancelled",
            "next_attempt_at": None,
            "updated_at": T0,
        }
    for status in ("dialing", "in_progress", "completed"):
        with pytest.raises(lc.Conflict, match=f"a {status} interview cannot be cancelled"):
            lc.cancelled(status, T0)


def test_codes_and_the_claim_window() -> None:
    assert lc.code_shape("012345")
    assert not any(map(lc.code_shape, ("12345", "1234567", "12345a", "")))
    assert lc.code_span(T0) == (T0 - timedelta(days=7), T0 + timedelta(minutes=15))
    assert lc.postponed(iv("scheduled"), T0) is None
    night = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 21:00 NY
    assert lc.postponed(iv("scheduled"), night) == datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    assert lc.claimed() == lc.Take("dialing", {"outcome": "dialing"})
    taken = lc.called_in(SID, T0)
    assert taken.status == "in_progress" and taken.attempt == {
        "call_sid": SID,
        "outcome": "in-progress",
        "call_status": "in-progress",
        "answered_at": T0,
        "stream": "connected",
    }


def dial_failed(interview: Interview | None = None, seq: int = 1, **kw: Any) -> lc.Decision:
    args = {"http_status": None, "code": None, "message": "boom", "sent": True, **kw}
    return lc.dial_failed(interview or iv(), seq, policy=POLICY, now=T0, **args)


def test_dial_failed_classes_the_error() -> None:
    unknown = dial_failed()  # a timeout: Twilio may have placed the call
    assert (unknown.outcome, unknown.interview) == ("dialing", None)
    assert unknown.attempt == {"error_code": None, "error_message": "boom", "http_status": None}
    refused = dial_failed(sent=False)  # never left: transient
    assert (refused.outcome, refused.interview) == (
        "transient_error",
        Transition("retrying", LATER),
    )
    busy = dial_failed(http_status=429, code=20429, message="x" * 600)
    assert busy.attempt["error_code"] == "20429" and len(busy.attempt["error_message"]) == 500
    assert busy.attempt["outcome"] == "transient_error"
    wrong = dial_failed(http_status=400, code=21211)
    assert (wrong.outcome, wrong.interview) == ("rejected", Transition("failed"))
    assert dial_failed(iv(total=2), seq=1, http_status=400).interview is None  # not the latest
    assert (
        lc.dial_failed(
            None, 1, http_status=400, code=None, message="", sent=True, policy=POLICY, now=T0
        ).interview
        is None
    )


def test_unplaced_claims_cost_no_try() -> None:
    decision = lc.unplaced(iv(tries=2), 1, 300, T0)
    assert decision.attempt == {
        "outcome": "not_placed",
        "error_message": "no word from Twilio within 300s of the claim: the call was never placed",
    }
    assert decision.interview == Transition("retrying", T0, tries=1)
    assert lc.unplaced(iv(tries=0), 1, 300, T0).interview == Transition("retrying", T0, tries=0)
    night = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    opening = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    assert lc.unplaced(iv(), 1, 1.5, night).interview == Transition("retrying", opening, 0)
    assert lc.unplaced(iv("in_progress"), 1, 300, T0).interview is None
    assert lc.unplaced(iv(total=2), 1, 300, T0).interview is None
    assert lc.unplaced(None, 1, 300, T0).interview is None


def callback(attempt: Attempt, interview: Interview | None = None, **form: Any) -> Any:
    return lc.callback(interview or iv(), attempt, CallbackForm(**form), POLICY, T0)


def test_callback_fills_what_is_unknown_and_never_goes_back() -> None:
    at = T0 - timedelta(seconds=5)
    first = callback(att(), call_sid=SID, call_status="in-progress", sequence=2, timestamp=at)
    assert first.attempt == {
        "call_sid": SID,
        "answered_at": at,
        "call_status": "in-progress",
        "last_sequence": 2,
        "outcome": "in-progress",
    }
    assert first.interview == Transition("in_progress") and first.answered_at == at
    known = att(call_sid=SID, call_status="in-progress", last_sequence=2, answered_at=at)
    late = callback(known, call_sid="CAother", call_status="ringing", sequence=1)
    assert late.attempt == {"outcome": "in-progress"} and late.call_sid == SID
    assert late.answered_at is None
    unnumbered = callback(known, call_status="completed")  # no SequenceNumber: taken
    assert unnumbered.attempt["call_status"] == "completed"
    assert unnumbered.attempt["ended_at"] == T0 and unnumbered.attempt["duration_s"] is None
    done = replace(known, call_status="completed", ended_at=at, last_sequence=3)
    assert "call_status" not in callback(done, call_status="in-progress").attempt
    assert "ended_at" not in callback(done, call_status="completed", sequence=4).attempt
    ended = callback(known, call_status="busy", sequence=3, duration_s=0, timestamp=at)
    assert (ended.attempt["ended_at"], ended.attempt["duration_s"]) == (at, 0)
    assert ended.interview == Transition("retrying", LATER)
    assert callback(att(), call_status="in-progress").answered_at is None  # no CallSid known


def test_callback_outcomes_voicemail_and_ours() -> None:
    quiet = callback(att(outcome="dialing"), call_sid=SID)  # nothing to judge yet
    assert quiet.outcome == "dialing" and "outcome" not in quiet.attempt
    assert quiet.interview is None
    connected = att(call_sid=SID, call_status="in-progress", stream="connected")
    machine = callback(connected, answered_by="machine_end_beep" + "x" * 40)
    assert machine.attempt["answered_by"] == ("machine_end_beep" + "x" * 40)[:32]
    assert machine.outcome == "voicemail" and machine.leave_voicemail
    assert machine.interview == Transition("retrying", LATER)
    again = replace(connected, outcome="voicemail", answered_by="machine_end_beep")
    assert not callback(again, answered_by="human").leave_voicemail  # asked once
    assert "answered_by" not in callback(again, answered_by="human").attempt
    hung_up = replace(connected, call_status="completed")
    assert not callback(hung_up, answered_by="machine_start").leave_voicemail
    waiting = replace(connected, stream="waiting")  # the webhook will play it
    assert not callback(waiting, answered_by="machine_start").leave_voicemail
    fax = callback(connected, answered_by="fax")  # a fax on the live stream: hang up, no message
    assert fax.hang_up and not fax.leave_voicemail and fax.interview == Transition("failed")
    assert not callback(hung_up, answered_by="fax").hang_up
    for person in ("human", "unknown"):
        told = callback(connected, answered_by=person)
        assert not (told.hang_up or told.leave_voicemail) and told.outcome == "in-progress"
    for ours in lc.OURS:
        kept = callback(att(outcome=ours), call_sid=SID, call_status="completed", sequence=3)
        assert kept.outcome == ours and "outcome" not in kept.attempt
    older = callback(att(), iv(total=2), call_status="busy", sequence=3)
    assert older.outcome == "busy" and older.interview is None  # not the latest attempt


def answer(
    attempt: Attempt,
    interview: Interview | None = None,
    by: str | None = None,
    pending: bool = False,
) -> lc.AnswerDecision:
    return lc.answer(interview or iv(), attempt, by, pending, POLICY, T0)


def test_answer_connects_waits_or_leaves_voicemail() -> None:
    gone = answer(att(), iv("cancelled"), by="human")
    assert (gone.action, gone.attempt, gone.interview) == ("gone", {}, None)
    wait = answer(att(), pending=True)
    assert (wait.action, wait.attempt, wait.interview) == ("wait", {"stream": "waiting"}, None)
    connect = answer(att(), pending=False)
    assert (connect.action, connect.attempt) == ("connect", {"stream": "connected"})
    assert connect.interview == Transition("in_progress")
    human = answer(att(), by="human", pending=True)
    assert human.action == "connect" and human.attempt["answered_by"] == "human"
    machine = answer(att(answered_by="machine_end_silence"), by="human", pending=True)
    assert machine.action == "voicemail" and "answered_by" not in machine.attempt
    assert machine.attempt == {"stream": "voicemail", "outcome": "voicemail", "voicemail_at": T0}
    assert machine.interview == Transition("retrying", LATER)
    fax = answer(att(), by="fax")
    assert (fax.action, fax.interview) == ("fax", Transition("failed"))
    assert answer(att(), iv(total=2)).interview is None  # not the latest attempt
    over = answer(att(call_status="completed"), by="human")  # Twilio's news came first
    assert over.action == "connect" and over.interview == Transition("in_progress")


def test_call_in_ended() -> None:
    answered = att(call_sid=SID, answered_at=T0 - timedelta(seconds=95))
    assert (
        lc.call_in_ended(
            iv("in_progress"), replace(answered, ended_at=T0), failed=False, policy=POLICY, now=T0
        )
        is None
    )
    done = lc.call_in_ended(iv("in_progress"), answered, failed=False, policy=POLICY, now=T0)
    assert done is not None and done.interview == Transition("completed")
    assert done.attempt == {
        "outcome": "completed",
        "call_status": "completed",
        "ended_at": T0,
        "duration_s": 95,
    }
    failed = lc.call_in_ended(iv("in_progress"), att(), failed=True, policy=POLICY, now=T0)
    assert failed is not None and failed.outcome == "transient_error"
    assert "duration_s" not in failed.attempt
    assert failed.attempt["error_message"] == "the interview failed on our side (see the call log)"
    assert failed.interview == Transition("retrying", LATER)
    older = lc.call_in_ended(iv("in_progress", total=2), att(), failed=True, policy=POLICY, now=T0)
    assert older is not None and older.interview is None


def stuck(**fields: Any) -> StuckCall:
    base = {
        "status": "in_progress",
        "call_sid": SID,
        "created_at": T0 - timedelta(hours=1),
        "log_status": "completed",
        "log_ended_at": T0 - timedelta(minutes=30),
        "end_reason": "caller_hangup",
    }
    return StuckCall(**{**base, **fields})


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"call_sid": None}, None),
        ({"status": "dialing", "log_status": None, "created_at": T0 - timedelta(seconds=60)}, None),
        ({"status": "dialing", "log_status": None}, "lost"),
        ({"log_status": None}, "lost"),
        ({"log_status": "in_progress"}, None),
        ({"log_ended_at": None}, None),
        ({"log_ended_at": T0 - timedelta(minutes=1)}, None),  # after the cutoff: just ended
        ({}, "completed"),
        ({"log_status": "failed", "end_reason": "model_failed"}, "transient_error"),
        ({"log_status": "interrupted"}, "transient_error"),
        ({"end_reason": "answering_machine"}, "voicemail"),  # never a completed interview
    ],
)
def test_verdict(fields: dict[str, Any], expected: str | None) -> None:
    found = lc.verdict(stuck(**fields), T0 - timedelta(minutes=5), T0)
    assert (found and found[0]) == expected
    if expected == "transient_error":
        assert found is not None and f"({fields.get('end_reason', 'caller_hangup')})" in found[1]


def test_swept() -> None:
    done = lc.swept(iv("in_progress"), att(), "completed", "why", POLICY, T0)
    assert done.attempt == {"outcome": "completed", "ended_at": T0, "error_message": None}
    assert done.interview == Transition("completed")
    ended = T0 - timedelta(minutes=9)
    lost = lc.swept(iv(), att(ended_at=ended), "lost", "w" * 600, POLICY, T0)
    assert lost.attempt["ended_at"] == ended
    assert lost.attempt["error_message"] == ("swept: " + "w" * 600)[:500]
    assert lost.interview == Transition("retrying", LATER)


def test_callback_form_fields() -> None:
    form = CallbackForm.of(
        {
            "CallSid": "",
            "CallStatus": "busy",
            "SequenceNumber": "x",
            "Timestamp": "Tue, 24 Nov 2026 15:00:07 +0000",
            "CallDuration": "12",
            "AnsweredBy": "",
        }
    )
    assert form == CallbackForm(None, "busy", None, T0 + timedelta(seconds=7), 12, None)
    assert CallbackForm.of({}) == CallbackForm()
    assert integer("") is None and integer(None) is None and integer("7") == 7
    assert timestamp("not a date") is None and timestamp(None) is None
    assert timestamp("Tue, 24 Nov 2026 15:00:07 -0000") == T0 + timedelta(seconds=7)  # naive


def test_snapshots_of_rows() -> None:
    row = {
        "id": "iv_1",
        "status": "dialing",
        "tries": 1,
        "attempts_total": 1,
        "code": "1",
        "timezone": "America/New_York",
        "window_start": "09:00",
        "window_end": "20:00",
    }
    assert Interview.of(row) == iv() and iv().latest(1) and not iv().latest(2)
    columns = {
        "seq": 1,
        "outcome": "queued",
        "call_sid": SID,
        "call_status": None,
        "last_sequence": 0,
        "answered_by": None,
        "answered_at": None,
        "ended_at": None,
        "stream": "waiting",
        "error_code": None,
    }
    assert Attempt.of(columns) == att(call_sid=SID, last_sequence=0, stream="waiting")
    joined = {**stuck().__dict__, "id": "iv_1", "seq": 1, "outcome": "in-progress"}
    assert StuckCall.of(joined) == stuck()
