"""Interview profiles: what a recruiter defines for a role (loaded from TOML files in profiles/)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Question:
    """One question, and what a good answer shows (for the rubric)."""

    text: str
    good_answer: str = ""


@dataclass(frozen=True)
class Profile:
    """One interview profile, as read from profiles/<name>.toml."""

    name: str
    role: str
    company: str
    language: str
    voice: str | None
    greeting: str
    questions: tuple[Question, ...]
    rubric: dict[int, str]  # score -> what it means; scores are the keys
    duration_min: float
    closing: str
    source: str = ""  # the file it came from
    extra: dict[str, str] = field(default_factory=dict)
