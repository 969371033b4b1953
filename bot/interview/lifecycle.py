"""An interview's lifecycle, pure: what each event means for the interview and its attempt.

Each rule takes a snapshot of the rows (`Interview`, `Attempt`) and what happened (a Twilio
callback, the voice webhook, a dial error, a call-in, a sweep) and returns what to write: the
attempt's changes and the interview's `Transition`. The store locks and reads the rows, calls
a rule, and writes its decision in the same transaction (bot/store/interview_*.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bot.interview.decisions import (
    Action,
    AnswerDecision,
    Attempt,
    AttemptChanges,
    CallbackDecision,
    Decision,
    Interview,
    StuckCall,
    Take,
    Transition,
)
from bot.interview.outcomes import (
    OURS,
    TERMINAL_CALL,
    UNHEARD,
    CallbackForm,
    interview_step,
    outcome,
    transient,
)
from bot.interview.schedule import DEFAULT_WINDOW, RetryPolicy, check_schedule

STATUSES = ("scheduled", "dialing", "in_progress", "completed", "retrying", "failed", "cancelled")
DUE = ("scheduled", "retrying")  # statuses the dialer may claim
RESCHEDULABLE = ("scheduled", "retrying", "failed")  # PATCH allowed
CANCELLABLE = ("scheduled", "retrying", "failed", "cancelled")  # DELETE allowed (idempotent)
LIVE = ("dialing", "in_progress")  # a call of the interview may be under way

CODE_STATUSES = ("scheduled", "retrying", "failed")  # a candidate may call in with the code …
CODE_EARLY = timedelta(minutes=15)  # … from 15 minutes before the scheduled time …
CODE_LATE = timedelta(days=7)  # … until a week after it
# A dialed call rings for at most 30 s, then waits a few for answering-machine detection: a
# `dialing` attempt with no word for this long is gone, however short DIALER_RECOVERY_S is.
RING_LIMIT = timedelta(seconds=90)


class Conflict(Exception):
    """The interview's status does not allow this change (message says why)."""


def advance(
    interview: Interview, attempt_outcome: str, policy: RetryPolicy, now: datetime
) -> Transition | None:
    """Move the interview on from its latest attempt's outcome; None: no change (idempotent).

    A late voicemail verdict can turn a `completed` interview back to `retrying`, and a fax
    one to `failed`; nothing else leaves a finished interview."""
    step, current = interview_step(attempt_outcome), interview.status
    live = current in LIVE
    if step == "in_progress" and current == "dialing":
        return Transition("in_progress")
    if step == "completed" and live:
        return Transition("completed")
    if step == "failed" and (live or current == "completed"):
        return Transition("failed")
    if step == "retry" and (live or (current == "completed" and attempt_outcome == "voicemail")):
        after = policy.after_failure(interview.tries, now, interview.window)
        return Transition("failed") if after is None else Transition("retrying", after)
    return None


def _moved(
    interview: Interview | None, seq: int, result: str, policy: RetryPolicy, now: datetime
) -> Transition | None:
    if interview is None or not interview.latest(seq):
        return None
    return advance(interview, result, policy, now)


# --- scheduling by ops ----------------------------------------------------------------------


def created(fields: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A new interview's columns (fields already validated; id and code drawn by the store)."""
    row = {
        "window_start": DEFAULT_WINDOW[0],
        "window_end": DEFAULT_WINDOW[1],
        "role": None,
        **fields,
    }
    check_schedule(row, now)
    row.update(
        status="scheduled",
        next_attempt_at=row["scheduled_at"],
        tries=0,
        attempts_total=0,
        created_at=now,
        updated_at=now,
    )
    return row


def rescheduled(row: Mapping[str, Any], fields: Mapping[str, Any], now: datetime) -> dict:
    """The columns changing an interview not being called now: scheduled again, fresh budget."""
    if row["status"] not in RESCHEDULABLE:
        raise Conflict(f"status: a {row['status']} interview cannot be changed")
    merged = {**row, **fields}
    check_schedule(merged, now)
    return {
        **fields,
        "status": "scheduled",
        "next_attempt_at": merged["scheduled_at"],
        "tries": 0,
        "resume_until": None,  # a fresh start: nothing to resume
        "resume_since": None,
        "resumes": 0,
        "updated_at": now,
    }


def cancelled(status: str, now: datetime) -> dict[str, Any]:
    """The columns cancelling an interview not being called now (cancelling twice is fine)."""
    if status not in CANCELLABLE:
        raise Conflict(f"status: a {status} interview cannot be cancelled")
    return {"status": "cancelled", "next_attempt_at": None, "updated_at": now}


def code_shape(code: str) -> bool:
    """Six digits: the only thing worth looking up."""
    return len(code) == 6 and code.isdigit()


def code_span(now: datetime) -> tuple[datetime, datetime]:
    """The scheduled times (earliest, latest) whose code works now."""
    return now - CODE_LATE, now + CODE_EARLY


# --- the dialer -----------------------------------------------------------------------------


def postponed(interview: Interview, now: datetime) -> datetime | None:
    """None if a due interview may be dialed now; else its window's next opening."""
    return None if interview.window.contains(now) else interview.window.next_open(now)


def claimed() -> Take:
    """A claim: the interview is `dialing`, its attempt recorded before any call is placed."""
    return Take("dialing", {"outcome": "dialing"})


def dial_failed(
    interview: Interview | None,
    seq: int,
    *,
    http_status: int | None,
    code: int | None,
    message: str,
    sent: bool,
    policy: RetryPolicy,
    now: datetime,
) -> Decision:
    """Twilio refused the call (or did not answer): store the error; retry or stop.

    No HTTP status with sent=True (a timeout, a reset) means Twilio may have placed the call:
    the attempt stays `dialing` and its callbacks, or recovery, decide. sent=False means the
    request never left (connection refused): a transient error."""
    changes: AttemptChanges = {
        "error_code": None if code is None else str(code),
        "error_message": message[:500],
        "http_status": http_status,
    }
    if http_status is None and sent:
        result = "dialing"  # unknown whether Twilio placed it: callbacks or recovery tell
    else:
        result = "transient_error" if transient(http_status, code) else "rejected"
        changes["outcome"] = result
    return Decision(result, changes, _moved(interview, seq, result, policy, now))


def unplaced(interview: Interview | None, seq: int, older_than_s: float, now: datetime) -> Decision:
    """A claim Twilio never reported on within older_than_s: never placed, so it costs no try
    and the interview is due again when its window is open."""
    changes: AttemptChanges = {
        "outcome": "not_placed",
        "error_message": f"no word from Twilio within {older_than_s:g}s of the claim: "
        "the call was never placed",
    }
    again = None
    if interview is not None and interview.latest(seq) and interview.status == "dialing":
        again = Transition("retrying", interview.window.next_open(now), max(0, interview.tries - 1))
    return Decision("not_placed", changes, again)


# --- Twilio's requests about a dialed call ---------------------------------------------------


def callback(
    interview: Interview, attempt: Attempt, form: CallbackForm, policy: RetryPolicy, now: datetime
) -> CallbackDecision:
    """A status or AMD callback for one attempt, in any order: an older one (lower
    SequenceNumber) never moves the call status back, and times already known stay."""
    changes: AttemptChanges = {}
    status, number, when = form.call_status, form.sequence, form.timestamp
    if form.call_sid and not attempt.call_sid:
        changes["call_sid"] = form.call_sid
    if status == "in-progress" and attempt.answered_at is None:
        changes["answered_at"] = when or now
    newer = number is not None and number > attempt.last_sequence
    if status and (newer or (number is None and attempt.call_status not in TERMINAL_CALL)):
        changes["call_status"] = status
        if number is not None:
            changes["last_sequence"] = number
    if status in TERMINAL_CALL and attempt.ended_at is None:
        changes["ended_at"] = when or now
        changes["duration_s"] = form.duration_s
    if form.answered_by and not attempt.answered_by:
        changes["answered_by"] = form.answered_by[:32]
    call_sid = changes.get("call_sid", attempt.call_sid)
    call_status = changes.get("call_status", attempt.call_status)
    answered_by = changes.get("answered_by", attempt.answered_by)
    result = attempt.outcome
    # A machine's verdict also overrides `dropped`: no candidate was on the line to resume.
    machine = (answered_by or "").startswith(("machine", "fax"))
    if (attempt.outcome not in OURS or (attempt.outcome == "dropped" and machine)) and (
        call_status or answered_by
    ):
        result = outcome(call_status, answered_by)
        changes["outcome"] = result
    # A machine (or fax) verdict for a call whose stream is live: switch the call by REST
    # update (the stream connected at once, whatever AMD had said; issue 14.1).
    live = attempt.stream == "connected" and call_status not in TERMINAL_CALL
    news = result != attempt.outcome
    moved = _moved(interview, attempt.seq, result, policy, now)
    if moved is not None and moved.status == "completed" and attempt.stream == "connected":
        moved = None  # its stream is still ours: the bridge says how it ended (resume.py)
    if moved is not None and attempt.outcome == "dropped" and result != "dropped" and interview:
        since = interview.resume_since or now  # the window closes: a machine's talk is no history
        moved = replace(moved, resume=(now - timedelta(seconds=1), since, interview.resumes))
    return CallbackDecision(
        result,
        changes,
        moved,
        call_sid=call_sid,
        leave_voicemail=live and news and result == "voicemail",
        hang_up=live and news and result == "fax",
        answered_at=changes.get("answered_at") if call_sid else None,
    )


def answer(
    interview: Interview,
    attempt: Attempt,
    answered_by: str | None,
    amd_pending: bool,
    policy: RetryPolicy,
    now: datetime,
) -> AnswerDecision:
    """The voice webhook of an outbound attempt: connect the stream, wait while answering-
    machine detection has not spoken and amd_pending, voicemail (or fax), or `gone` for a
    cancelled interview."""
    if interview.status == "cancelled":
        return AnswerDecision(attempt.outcome, {}, None, action="gone")
    known = attempt.answered_by or answered_by
    result = outcome(attempt.call_status or "in-progress", known)
    action: Action
    changes: AttemptChanges
    if result in ("voicemail", "fax"):
        action = "voicemail" if result == "voicemail" else "fax"
        changes = {"stream": "voicemail", "outcome": result}
        if action == "voicemail":
            changes["voicemail_at"] = now
    elif known is None and amd_pending:
        action, changes = "wait", {"stream": "waiting"}
    else:
        action, changes = "connect", {"stream": "connected"}
    if answered_by and not attempt.answered_by:
        changes["answered_by"] = answered_by[:32]
    moved = None
    if action != "wait":
        moved = _moved(
            interview, attempt.seq, "in-progress" if action == "connect" else result, policy, now
        )
    return AnswerDecision(changes.get("outcome", attempt.outcome), changes, moved, action=action)


# --- candidates who call in ------------------------------------------------------------------


def called_in(call_sid: str, now: datetime) -> Take:
    """A caller keyed in an open interview's code: it is theirs, as an answered attempt."""
    return Take(
        "in_progress",
        {
            "call_sid": call_sid,
            "outcome": "in-progress",
            "call_status": "in-progress",
            "answered_at": now,
            "stream": "connected",
        },
    )


def call_in_ended(
    interview: Interview, attempt: Attempt, *, failed: bool, policy: RetryPolicy, now: datetime
) -> Decision | None:
    """The inbound call of an interview ended: completed, or (our failure) retried. None if
    its end is already known."""
    if attempt.ended_at is not None:
        return None
    result = "transient_error" if failed else "completed"
    changes: AttemptChanges = {"outcome": result, "call_status": "completed", "ended_at": now}
    if attempt.answered_at is not None:
        changes["duration_s"] = int((now - attempt.answered_at).total_seconds())
    if failed:
        changes["error_message"] = "the interview failed on our side (see the call log)"
    return Decision(result, changes, _moved(interview, attempt.seq, result, policy, now))


def unheard(
    interview: Interview,
    attempt: Attempt,
    reason: str,
    *,
    inbound: bool,
    policy: RetryPolicy,
    now: datetime,
) -> Decision | None:
    """The call ended because the candidate was not heard (`no_response`, `one_way_audio`):
    the attempt's outcome is that reason and the interview is retried, even if Twilio's
    `completed` callback came first and completed it. An inbound call's end is noted here
    (a dialed one's comes from Twilio). None if the attempt knows already."""
    if reason not in UNHEARD or attempt.outcome == reason:
        return None
    changes: AttemptChanges = {"outcome": reason, "error_message": _UNHEARD_WHY[reason]}
    if inbound and attempt.ended_at is None:
        changes.update(call_status="completed", ended_at=now)
        if attempt.answered_at is not None:
            changes["duration_s"] = int((now - attempt.answered_at).total_seconds())
    moved = _moved(interview, attempt.seq, reason, policy, now)
    if moved is None and interview.status == "completed" and interview.latest(attempt.seq):
        after = policy.after_failure(interview.tries, now, interview.window)
        moved = Transition("failed") if after is None else Transition("retrying", after)
    return Decision(reason, changes, moved)


_UNHEARD_WHY = {
    "no_response": "the candidate did not answer: no voice and no key (see the call log)",
    "one_way_audio": "one-way audio: the candidate pressed a key but was never heard",
}


# --- interviews whose call is gone ---------------------------------------------------------


def verdict(stuck: StuckCall, cutoff: datetime, now: datetime) -> tuple[str, str] | None:
    """(attempt outcome, why) for a stuck interview's latest attempt, or None while its call
    may still be alive or Twilio may still report on it."""
    if stuck.call_sid is None:
        return None  # never placed, or placed with its CallSid unknown: the dialer's recovery
    log_status, ended = stuck.log_status, stuck.log_ended_at
    if log_status is None:  # no stream ever started (or its replica never wrote)
        if stuck.status == "dialing" and stuck.created_at >= now - RING_LIMIT:
            return None
        return "lost", "no word from Twilio or any replica about the call"
    if log_status == "in_progress":
        return None  # alive, or its replica died: the sweep marks it interrupted first
    if ended is None or ended >= cutoff:
        return None  # just ended: Twilio's final status callback is on its way
    if stuck.end_reason == "answering_machine":  # never a completed interview
        return "voicemail", "a machine answered; Twilio's final status callback never came"
    if log_status == "completed" and stuck.end_reason in UNHEARD:
        return str(stuck.end_reason), f"the call ended {stuck.end_reason}: nobody was heard"
    if log_status == "completed":
        return "completed", "the call completed; Twilio's final status callback never came"
    return "transient_error", f"the call ended {log_status} ({stuck.end_reason}) on our side"


def swept(
    interview: Interview,
    attempt: Attempt,
    result: str,
    why: str,
    policy: RetryPolicy,
    now: datetime,
) -> Decision:
    """Settle a stuck interview's latest attempt with the verdict's outcome."""
    changes: AttemptChanges = {
        "outcome": result,
        "ended_at": attempt.ended_at or now,
        "error_message": None if result == "completed" else f"swept: {why}"[:500],
    }
    return Decision(result, changes, advance(interview, result, policy, now))
