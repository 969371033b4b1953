"""The functions the model may call: their schemas, argument checks and results."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from bot.interview.profiles import Profile

log = structlog.get_logger(__name__)

END_INTERVIEW = "end_interview"
RECORD_ASSESSMENT = "record_assessment"
MAX_ARGUMENTS = 16 * 1024  # characters of JSON; an assessment is a few hundred
MAX_EVIDENCE = 1000

END_INTERVIEW_TOOL: dict[str, Any] = {
    "type": "function",
    "name": END_INTERVIEW,
    "description": (
        "End the phone call. Call this only after you have said the closing line, "
        "or when the candidate asks to stop."
    ),
    "parameters": {
        "type": "object",
        "properties": {
            "reason": {"type": "string", "description": "Why the interview ends, in a few words."}
        },
        "required": [],
    },
}


def record_assessment_tool(profile: Profile) -> dict[str, Any]:
    """The record_assessment schema for this profile (its questions and score range)."""
    low, high = profile.score_range
    return {
        "type": "function",
        "name": RECORD_ASSESSMENT,
        "description": (
            "Record your assessment of the candidate's answer to one question, against the "
            "rubric. Call it once per question, right after the candidate has answered it, "
            "before you speak again. Never tell the candidate the score."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "question": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": len(profile.questions),
                    "description": "The number of the question, as listed in your instructions.",
                },
                "score": {
                    "type": "integer",
                    "minimum": low,
                    "maximum": high,
                    "description": f"The rubric score, from {low} to {high}.",
                },
                "evidence": {
                    "type": "string",
                    "description": "The candidate's own words that justify the score, quoted.",
                },
            },
            "required": ["question", "score", "evidence"],
        },
    }


class ToolError(ValueError):
    """A tool call the bot cannot carry out; the message is sent back to the model."""


@dataclass(frozen=True)
class Assessment:
    """One recorded assessment: which question, its score and the quoted evidence."""

    number: int
    question: str
    score: int
    evidence: str


def parse_assessment(profile: Profile, arguments: str) -> Assessment:
    """Check record_assessment's arguments against the profile; ToolError says what is wrong."""
    if len(arguments) > MAX_ARGUMENTS:
        raise ToolError(f"arguments longer than {MAX_ARGUMENTS} characters")
    try:
        args = json.loads(arguments or "{}")
    except ValueError as exc:
        raise ToolError(f"arguments are not valid JSON: {exc}") from None
    if not isinstance(args, dict):
        raise ToolError("arguments must be a JSON object")
    missing = [k for k in ("question", "score", "evidence") if k not in args]
    if missing:
        raise ToolError(f"missing argument(s): {', '.join(missing)}")
    count = len(profile.questions)
    number = args["question"]
    if not _whole(number):
        raise ToolError(f"question must be the question's number (an integer from 1 to {count})")
    if not 1 <= number <= count:
        raise ToolError(f"question {number} does not exist: there are {count} questions")
    low, high = profile.score_range
    score = args["score"]
    if not _whole(score):
        raise ToolError(f"score must be an integer from {low} to {high}")
    if not low <= score <= high:
        raise ToolError(f"score {score} is outside the rubric's range {low} to {high}")
    evidence = args["evidence"]
    if not isinstance(evidence, str) or not evidence.strip():
        raise ToolError("evidence must be the candidate's words, quoted (a non-empty string)")
    evidence = " ".join(evidence.split())
    if len(evidence) > MAX_EVIDENCE:
        raise ToolError(f"evidence longer than {MAX_EVIDENCE} characters: quote less")
    return Assessment(int(number), profile.questions[int(number) - 1].text, int(score), evidence)


def _whole(value: Any) -> bool:
    """An integer (JSON 3 or 3.0), not a bool or a string."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


class AssessmentSink(Protocol):
    """Where recorded assessments go (the call's CallRecorder)."""

    def assessment(self, assessment: Assessment) -> None: ...


def run_tool(profile: Profile, name: str, arguments: str, sink: AssessmentSink) -> str:
    """Carry out one tool call (not end_interview); the function_call_output to send back."""
    try:
        if name == RECORD_ASSESSMENT:
            assessment = parse_assessment(profile, arguments)
            sink.assessment(assessment)
            log.info("tool.assessment_recorded", question=assessment.number,
                     score=assessment.score)  # fmt: skip
            return json.dumps({"ok": True, "recorded": {"question": assessment.number,
                                                        "score": assessment.score}})  # fmt: skip
        raise ToolError(f"unknown tool {name!r}")
    except ToolError as exc:
        # The arguments may quote the candidate: only the problem is logged.
        log.warning("tool.bad_call", tool=name[:64], problem=str(exc)[:300])
        return json.dumps({"ok": False, "error": str(exc)})
