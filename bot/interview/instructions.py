"""The interviewer's instructions and tools, composed in one place from profile and candidate."""

from __future__ import annotations

from typing import Any

from bot.interview.context import InterviewContext
from bot.interview.keys import REPEAT_PREFIX, SKIP_PREFIX
from bot.interview.profiles import Profile
from bot.interview.tools import END_INTERVIEW_TOOL, record_assessment_tool

MAX_CONTEXT_TEXT = 100  # a candidate's name or role, from the scheduling store
# How a turn hands over to the candidate: on the phone they cannot see that the bot is done.
TURN_HANDOVER = (
    "Take turns plainly: ask exactly one question per turn and end your turn with that "
    "question, asked as a question; say nothing after it (no second question, no remark, "
    'no "take your time"), then stop speaking and wait for the candidate\'s answer.'
)


def tools(profile: Profile) -> list[dict[str, Any]]:
    """The functions the model may call during this interview."""
    return [END_INTERVIEW_TOOL, record_assessment_tool(profile)]


def _clean(value: str | None) -> str | None:
    """Context text on one line, bounded: it must not add lines (or questions) of its own."""
    if not value:
        return None
    text = " ".join(value.split())[:MAX_CONTEXT_TEXT]
    return text or None


def compose(profile: Profile, context: InterviewContext | None = None) -> str:
    """Instructions for one interview over the phone, from its profile and candidate.

    Line markers the local engine reads: `Greeting:`, the numbered questions, `Closing:`.
    Nothing else may start a line with a number.
    """
    context = context or InterviewContext(profile=profile.name)
    name, applied = _clean(context.candidate_name), _clean(context.role)
    role = applied or profile.role
    low, high = profile.score_range
    candidate = f"The candidate is {name}. " if name else ""
    questions = "\n".join(
        f"{n}. {q.text}\n   (A good answer shows: {q.good_answer})"
        for n, q in enumerate(profile.questions, start=1)
    )
    rubric = "\n".join(f"- score {score}: {meaning}" for score, meaning in profile.rubric.items())
    pace = ""  # OpenAI voices take no rate (bot/voicelive/session.py): the model paces itself
    if profile.speaking_rate < 1.0:
        pace = " Speak at a calm pace, a little slower than usual."
    elif profile.speaking_rate > 1.0:
        pace = " Speak at a brisk pace, a little faster than usual."
    return (
        f"You are a friendly, professional job interviewer for {profile.company}, speaking with "
        f"a candidate on the phone about the role of {role}. {candidate}"
        f"Speak in the language {profile.language}. Speak naturally and briefly: one or two "
        f"sentences per turn.{pace} The interview lasts about "
        f"{profile.duration_min:g} minutes.\n"
        f"{TURN_HANDOVER}\n"
        "The greeting below has already been said to the candidate, word for word: do not "
        "greet again. Ask the questions below one at a time, in order. After "
        "each answer, call record_assessment with the question's number, a score from the "
        "rubric and the candidate's own words as evidence, then acknowledge the answer in a few "
        "words and ask the next question. Never tell the candidate a score, the rubric or what "
        "a good answer shows. If the candidate interrupts you, stop and listen. When all "
        "questions are answered, thank the candidate, say the closing line, then call "
        "end_interview.\n"
        "The candidate can press keys on the phone; you then get a system message. "
        f'"{REPEAT_PREFIX}" means: repeat your last question. '
        f'"{SKIP_PREFIX}" means: do not assess that question; move on to the next one.\n'
        f"Greeting: {profile.greeting}\n"
        f"Questions:\n{questions}\n"
        f"Rubric (scores {low} to {high}):\n{rubric}\n"
        f"Closing: {profile.closing}"
    )
