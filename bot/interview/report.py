"""The interview report: transcript, assessments and a per-question summary, built at the end."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from bot.interview.profiles import Profile

REPORT_VERSION = 1
ASKED_OVERLAP = 0.6  # share of a question's words a bot turn must say for it to count as asked
_WORD = re.compile(r"[a-z0-9']+")
_STOP = frozenset("a an the and or of to in on at for you your me my i is are was what how".split())


def _words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP]


def _normal(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def asks(turn_text: str, question: str) -> bool:
    """Whether a bot turn asks this question (said in about the profile's words)."""
    wanted = _words(question)
    if not wanted:
        return False
    said = set(_words(turn_text))
    return sum(w in said for w in wanted) / len(wanted) >= ASKED_OVERLAP


def build_report(
    profile: Profile,
    transcript: Sequence[Mapping[str, Any]],
    assessments: Sequence[Mapping[str, Any]],
    keys: Sequence[Mapping[str, Any]] = (),
    end_reason: str | None = None,
) -> dict[str, Any]:
    """The report stored with the call (calls.report), from what the call recorded.

    transcript: {speaker, text, at, offset_ms, interrupted}; assessments: {question, score,
    evidence, at, offset_ms} with the question's text; keys: {key, offset_ms}.
    """
    caller_words = _normal(" ".join(t["text"] for t in transcript if t["speaker"] == "caller"))
    by_question: dict[str, Mapping[str, Any]] = {}
    for entry in assessments:
        by_question[entry["question"]] = entry  # the latest assessment of a question counts
    questions = []
    for number, question in enumerate(profile.questions, start=1):
        asked_at = next(
            (t["offset_ms"] for t in transcript
             if t["speaker"] == "bot" and asks(t["text"], question.text)),
            None,
        )  # fmt: skip
        assessed = by_question.get(question.text)
        evidence = assessed["evidence"] if assessed else None
        questions.append(
            {
                "number": number,
                "question": question.text,
                "asked": asked_at is not None or assessed is not None,
                "asked_at_ms": asked_at,
                "score": assessed["score"] if assessed else None,
                "evidence": evidence,
                # Whether the evidence appears word for word in the caller's transcript
                # (None when nothing was transcribed, as with the local engine).
                "evidence_in_transcript": (_normal(evidence) in caller_words)
                if evidence and _normal(evidence) and caller_words
                else None,
            }
        )
    scores = [q["score"] for q in questions if q["score"] is not None]
    low, high = profile.score_range
    return {
        "version": REPORT_VERSION,
        "profile": profile.name,
        "role": profile.role,
        "end_reason": end_reason,
        "score_range": [low, high],
        "questions_asked": sum(q["asked"] for q in questions),
        "questions_assessed": len(scores),
        "questions_total": len(questions),
        "mean_score": round(sum(scores) / len(scores), 2) if scores else None,
        "questions": questions,
        "assessments": [dict(a) for a in assessments],
        "keys": [dict(k) for k in keys],
        "transcript": [dict(t) for t in transcript],
    }
