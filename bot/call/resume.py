"""A call of a dropped interview: the earlier calls' history replayed into its first session,
their time carried over, their record opening its report; and a call's end that leaves its
interview resumable (bot/interview/resume.py decides)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import structlog

from bot.call import consent
from bot.endreasons import UNHEARD
from bot.interview import call_in as inbound
from bot.interview import resume
from bot.interview.context import InterviewContext
from bot.interview.timekeeping import Timekeeper
from bot.timeouts import within

if TYPE_CHECKING:
    from bot.call.core import CallCore
    from bot.call.record import CallRecorder
    from bot.store.interviews import InterviewStore
    from bot.twilio.media import Start

log = structlog.get_logger("bot.call")

LOAD_TIMEOUT_S = 3.0  # the earlier calls' history, read before the greeting
KEY_NOTES = {"repeat": "The candidate pressed * to hear the question again.",
             "skip": "The candidate pressed # to skip to the next question."}  # fmt: skip


async def begin(
    interviews: InterviewStore | None,
    context: InterviewContext,
    call_sid: str,
    core: CallCore,
    record: CallRecorder,
) -> resume.Resumption | None:
    """If this call continues a dropped interview, set the core and the record up for it."""
    if interviews is None or context.interview_id is None:
        return None
    try:
        found = await within(interviews.resumption(context.interview_id, call_sid), LOAD_TIMEOUT_S)
        if found is not None:
            apply(core, record, found)
    except Exception as exc:  # the interview starts afresh rather than not at all
        log.error("interview.resume_failed", interview_id=context.interview_id,
                  error=f"{type(exc).__name__}: {exc}")  # fmt: skip
        return None
    return found


def apply(core: CallCore, record: CallRecorder, found: resume.Resumption) -> int | None:
    """Replay the earlier calls into the core's history (turns, assessments, keys, then where
    to go on), carry their time over, greet with `resume_greeting`; the record's report
    starts with them. Returns the question the interview continues at (None: all done)."""
    profile = core.profile
    questions = [q.text for q in profile.questions]
    history = core.history
    numbers: list[int | None] = []
    for n, (kind, entry) in enumerate(found.events()):
        if kind == "turn" and entry["speaker"] == "bot":
            history.assistant(f"resumed_{n}", entry["text"])
        elif kind == "turn" and str(entry["text"]).strip():
            history.user(f"resumed_{n}", entry["text"])
        elif kind == "assessment":
            number = profile.question_number(entry["question"])
            numbers.append(number)
            history.note(f"Assessment recorded: question {number}, score {entry['score']}.")
        elif kind == "key" and entry.get("key") in KEY_NOTES:
            history.note(KEY_NOTES[entry["key"]])
    transcript = found.tagged("transcript")
    question = resume.next_question(questions, transcript, numbers)
    clock = core.clock
    talked_s = min(found.talked_s, clock.duration_s)
    history.note(resume.note(questions, question, talked_s, clock.duration_s))
    core.clock = Timekeeper(clock.duration_s, started=clock.started - talked_s, now=clock.now)
    notice = " ".join(profile.recording_notice.split())  # said first on every recorded call
    core.greeting = consent.first_line(core.consent, notice,
                                       " ".join(profile.resume_greeting.split()))  # fmt: skip
    assessments = [
        {"number": profile.question_number(a["question"]), **a} for a in found.tagged("assessments")
    ]
    record.resumed_from(found.call_sids, transcript, assessments, found.tagged("keys"))
    log.info("interview.resumed", calls=len(found.calls), talked_s=round(talked_s, 1),
             remaining_s=round(core.clock.remaining(), 1), next_question=question)  # fmt: skip
    return question


async def ended(
    interviews: InterviewStore | None,
    context: InterviewContext,
    start: Start,
    reason: str,
    started_at: datetime,
    remaining_s: float,
) -> None:
    """An interview's call ended: resumable (README "Resuming a dropped interview"), or, for a
    call-in, completed / retried as before; a dialed one moves on from Twilio's word."""
    direction = start.custom_parameters.get("direction", "inbound")
    if interviews is None or context.interview_id is None:
        return
    if reason in resume.RESUMABLE:
        try:
            if await interviews.call_dropped(
                context.interview_id, start.call_sid, reason=reason, call_started=started_at,
                remaining_s=remaining_s, inbound=direction == "inbound",
            ):  # fmt: skip
                return
        except Exception as exc:  # the usual rules then apply
            log.error("interview.drop_not_recorded", interview_id=context.interview_id,
                      error=f"{type(exc).__name__}: {exc}")  # fmt: skip
    if direction == "inbound" or reason in UNHEARD:  # unheard: retried either way (call_in)
        await inbound.call_ended(interviews, context, start.call_sid, direction, reason)
        return
    try:
        await interviews.stream_ended(context.interview_id, start.call_sid)
    except Exception as exc:  # Twilio's callbacks or the sweep move it on later
        log.error("interview.stream_end_not_recorded", interview_id=context.interview_id,
                  error=f"{type(exc).__name__}: {exc}")  # fmt: skip
