"""A dropped interview call, pure: which ends leave the interview resumable, the callback it
gets, and where the next call continues (the history it replays, the next question, the time).

A call that ends before `end_interview` for a reason in RESUMABLE leaves its interview
`retrying`, called back after `RetryPolicy.resume_after_s`; any call of it (dialed or keyed in
by code) that starts within `resume_window_s` of the drop continues it. README "Resuming a
dropped interview" says what was chosen and why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.endreasons import CALLER_GONE, FAILED, EndReason
from bot.interview.decisions import Attempt, AttemptChanges, Decision, Interview, Transition
from bot.interview.lifecycle import LIVE, advance
from bot.interview.outcomes import RINGING
from bot.interview.report import asks
from bot.interview.schedule import RetryPolicy
from bot.interview.timekeeping import spoken

# Ends that leave the interview resumable: the caller or the line went (hang-up, network), we
# failed, the replica died (the sweep's `interrupted`) or was shut down (`drain`). Not:
# interview_finished (done), time_limit (no time left), no_response / one_way_audio /
# answering_machine (nobody to talk to: a normal retry, which still resumes within the window).
RESUMABLE: frozenset[str] = frozenset(
    {*CALLER_GONE, *FAILED, EndReason.INTERRUPTED, EndReason.DRAIN}
)
MAX_RESUMES = 3  # dropped calls called back per interview (since it was (re)scheduled)
MIN_REMAINING_S = 60.0  # less time left than this: the interview is over, not resumed
DROPPABLE = ("in-progress", "completed")  # attempt outcomes of a call that was answered


def dropped(
    interview: Interview,
    attempt: Attempt,
    *,
    reason: str,
    call_started: datetime,
    remaining_s: float | None,
    inbound: bool,
    policy: RetryPolicy,
    now: datetime,
) -> Decision | None:
    """The interview's answered call ended for `reason` with `remaining_s` of the interview
    left (None: unknown, as for the sweep): the attempt becomes `dropped` (it costs no try) and
    the interview `retrying`, called back after resume_after_s and resumable for
    resume_window_s. None when this end does not resume (the usual rules apply)."""
    if reason not in RESUMABLE or not interview.latest(attempt.seq) or policy.resume_window_s <= 0:
        return None
    answered = attempt.outcome in DROPPABLE or (
        attempt.stream == "connected" and attempt.outcome in RINGING  # its callback is late
    )
    if interview.status not in (*LIVE, "completed") or not answered:
        return None
    if interview.resumes >= MAX_RESUMES:
        return None
    if remaining_s is not None and remaining_s < MIN_REMAINING_S:
        return None
    until = now + timedelta(seconds=policy.resume_window_s)
    since = interview.resume_since if continues(interview, call_started) else call_started
    assert since is not None
    changes: AttemptChanges = {
        "outcome": "dropped",
        "error_message": f"the call dropped ({reason}); the interview resumes on a call "
        f"by {until:%Y-%m-%d %H:%M} UTC",
    }
    if inbound and attempt.ended_at is None:  # a dialed call's end comes from Twilio
        changes["ended_at"] = now
        changes["call_status"] = "completed"
        if attempt.answered_at is not None:
            changes["duration_s"] = int((now - attempt.answered_at).total_seconds())
    again = interview.window.next_open(now + timedelta(seconds=policy.resume_after_s))
    moved = Transition(
        "retrying", again, max(0, interview.tries - 1), (until, since, interview.resumes + 1)
    )
    return Decision("dropped", changes, moved)


def stream_ended(
    interview: Interview, attempt: Attempt, policy: RetryPolicy, now: datetime
) -> Decision:
    """A dialed call's stream ended without a drop (finished, time limit, nobody on the line):
    the interview moves on from what Twilio said so far (a `completed` that came while the
    stream was ours waited for this); Twilio's later callbacks move it as usual."""
    moved = None
    if interview.latest(attempt.seq):
        moved = advance(interview, attempt.outcome, policy, now)
    return Decision(attempt.outcome, {"stream": "ended"}, moved)


def continues(interview: Interview, call_started: datetime) -> bool:
    """Whether a call of this interview starting then continues its earlier calls."""
    until, since = interview.resume_until, interview.resume_since
    return until is not None and since is not None and call_started <= until


# --- the call that continues ----------------------------------------------------------------


@dataclass(frozen=True)
class PriorCall:
    """One earlier call of the interview, as its record holds it."""

    call_sid: str
    started_at: datetime
    talked_s: float  # from its stream's start to its end
    transcript: list[dict[str, Any]] = field(default_factory=list)  # speaker, text, at, offset_ms
    assessments: list[dict[str, Any]] = field(default_factory=list)  # question (text), score, …
    keys: list[dict[str, Any]] = field(default_factory=list)  # key, offset_ms


@dataclass(frozen=True)
class Resumption:
    """The earlier calls a new call continues, oldest first."""

    calls: list[PriorCall]

    @property
    def talked_s(self) -> float:
        return sum(c.talked_s for c in self.calls)

    @property
    def call_sids(self) -> list[str]:
        return [c.call_sid for c in self.calls]

    def tagged(self, name: str) -> list[dict[str, Any]]:
        """Every call's `transcript`, `assessments` or `keys`, each entry with its call_sid."""
        return [{**e, "call_sid": c.call_sid} for c in self.calls for e in getattr(c, name)]

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        """Turns, assessments and keys of every call in the order they happened."""
        out: list[tuple[float, int, str, dict[str, Any]]] = []
        for n, call in enumerate(self.calls):
            for kind, entries in (("turn", call.transcript), ("assessment", call.assessments),
                                  ("key", call.keys)):  # fmt: skip
                out += [(n, float(e.get("offset_ms") or 0.0), kind, e) for e in entries]  # type: ignore[misc]
        out.sort(key=lambda x: (x[0], x[1]))
        return [(kind, entry) for _, _, kind, entry in out]


def next_question(
    questions: Sequence[str],
    transcript: Sequence[Mapping[str, Any]],
    assessed: Sequence[int | None],
) -> int | None:
    """The number of the question to continue at: the one after the last one dealt with (None
    when all are). A question is dealt with when it was assessed, when the candidate answered
    it and the interviewer spoke again, or when a later question was asked (skipped)."""
    done = {n for n in assessed if n}
    current, answered = 0, False
    for turn in transcript:
        if turn["speaker"] == "bot":
            asked = next((n for n, q in enumerate(questions, 1) if asks(turn["text"], q)), 0)
            if current and answered and asked != current:
                done.add(current)
            if asked:
                done.update(range(1, asked))
                current, answered = asked, False
        elif turn["speaker"] == "caller" and str(turn.get("text", "")).strip():
            answered = True
    last = max(done, default=0)
    return last + 1 if last < len(questions) else None


def note(questions: Sequence[str], number: int | None, talked_s: float, duration_s: float) -> str:
    """The system note a resumed call's first session gets after the replayed history."""
    said = (
        f"The phone call dropped here. The candidate is back on a new call, {spoken(talked_s)} "
        f"into this {spoken(duration_s)} interview, and has just been welcomed back. "
        "Do not greet them again or repeat questions already dealt with. "
    )
    if number is None:
        return said + (
            "Every question has been dealt with: ask whether they want to add anything, then "
            "thank them, say the closing line and call end_interview."
        )
    return said + f'Continue the interview with question {number}: "{questions[number - 1]}"'
