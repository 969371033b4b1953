"""The interview report built from a call's transcript, assessments and key presses."""

from __future__ import annotations

from typing import Any

from bot.interview.report import asks, build_report
from tests.support.interview import make_profile


def turn(speaker: str, text: str, offset_ms: float, interrupted: bool = False) -> dict[str, Any]:
    return {"speaker": speaker, "text": text, "at": "2026-11-25T07:00:00+00:00",
            "offset_ms": offset_ms, "interrupted": interrupted}  # fmt: skip


def test_a_question_counts_as_asked_when_the_bot_says_most_of_its_words() -> None:
    assert asks("Great. So, what did you build last?", "What did you build last?")
    assert asks("Tell me: how do you usually test it?", "How do you test it?")
    assert not asks("Thanks for that answer.", "What did you build last?")
    assert not asks("anything", "")


def test_the_report_summarises_each_question() -> None:
    profile = make_profile()
    transcript = [
        turn("bot", "Hello, this is Acme. What did you build last?", 100, interrupted=True),
        turn("caller", "A billing system, I wrote the invoicing part.", 4000),
        turn("bot", "Thanks. How do you test it?", 9000),
        turn("caller", "Mostly by hand.", 12000),
    ]
    assessments = [
        {"number": 1, "question": "What did you build last?", "score": 2, "evidence": "a billing",
         "at": "…", "offset_ms": 8000},
        {"number": 1, "question": "What did you build last?", "score": 3,
         "evidence": "I wrote the invoicing part", "at": "…", "offset_ms": 8500},
        {"number": 2, "question": "How do you test it?", "score": 1, "evidence": "by robots",
         "at": "…", "offset_ms": 13000},
    ]  # fmt: skip
    report = build_report(profile, transcript, assessments, [{"key": "skip", "offset_ms": 14000}],
                          "caller_hung_up")  # fmt: skip
    q1, q2, q3 = report["questions"]
    assert (q1["asked"], q1["asked_at_ms"], q1["score"]) == (True, 100, 3)  # the latest counts
    assert q1["evidence_in_transcript"] is True
    assert (q2["asked"], q2["score"], q2["evidence_in_transcript"]) == (True, 1, False)
    assert (q3["asked"], q3["score"], q3["evidence"]) == (False, None, None)
    assert report["questions_asked"] == 2 and report["questions_assessed"] == 2
    assert report["mean_score"] == 2.0 and report["score_range"] == [1, 4]
    assert report["transcript"][0]["interrupted"] is True
    assert report["keys"] == [{"key": "skip", "offset_ms": 14000}]
    assert report["end_reason"] == "caller_hung_up" and len(report["assessments"]) == 3


def test_without_a_caller_transcript_evidence_is_not_judged() -> None:
    profile = make_profile()
    assessments = [{"number": 3, "question": "Why Acme?", "score": 4, "evidence": "x",
                    "at": "…", "offset_ms": 1}]  # fmt: skip
    report = build_report(profile, [], assessments)
    assert report["questions"][2]["asked"] is True  # assessed, so it was asked
    assert report["questions"][2]["evidence_in_transcript"] is None
