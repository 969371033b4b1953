"""Helpers for interview tests: profiles built in code, and an in-test interview directory."""

from __future__ import annotations

from typing import Any

from bot.config import PROJECT_PROFILES
from bot.interview.context import InterviewContext
from bot.interview.profiles import Profile, Question, load_profile


def make_profile(**overrides: object) -> Profile:
    """A profile built in code (tests need no file)."""
    fields: dict[str, object] = {
        "name": "backend",
        "role": "backend engineer",
        "company": "Acme",
        "language": "en-GB",
        "voice": None,
        "greeting": "Hello, this is Acme.",
        "questions": (
            Question("What did you build last?", "Something concrete and their part in it."),
            Question("How do you test it?", "Automated tests at the right level."),
            Question("Why Acme?", "They know what Acme does."),
        ),
        "rubric": {1: "weak", 2: "fair", 3: "good", 4: "strong"},
        "duration_min": 15.0,
        "closing": "Thanks, goodbye.",
    }
    fields.update(overrides)
    return Profile(**fields)  # type: ignore[arg-type]


class Directory:
    """An InterviewDirectory over a dict of codes (the scheduling store implements the real one)."""

    def __init__(self, interviews: dict[str, InterviewContext], fail: bool = False) -> None:
        self.interviews = interviews
        self.fail = fail
        self.lookups: list[str] = []

    async def interview_by_code(self, code: str) -> InterviewContext | None:
        self.lookups.append(code)
        if self.fail:
            raise ConnectionError("directory down")
        return self.interviews.get(code)

    async def interview_by_id(self, interview_id: str) -> InterviewContext | None:
        found = [c for c in self.interviews.values() if c.interview_id == interview_id]
        return found[0] if found else None


def practice_profile() -> Profile:
    """The practice profile as it ships in profiles/practice.toml."""
    return load_profile(PROJECT_PROFILES / "practice.toml")


def fixed_line(create: dict[str, Any] | None) -> str:
    """The exact line a response.create asks the service to say (pre_generated_assistant_message),
    or "" for a response the model composes."""
    message = ((create or {}).get("response") or {}).get("pre_generated_assistant_message") or {}
    return "".join(part.get("text", "") for part in message.get("content", []))
