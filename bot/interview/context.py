"""Who an interview is with and what it is: the context a call carries from webhook to stream."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

DEFAULT_PROFILE = "practice"


@dataclass(frozen=True)
class InterviewContext:
    """The interview a call conducts: which profile, and for whom (set by us, never the caller)."""

    profile: str = DEFAULT_PROFILE
    interview_id: str | None = None
    candidate_name: str | None = None
    role: str | None = None  # the role applied for, when it differs from the profile's

    def parameters(self) -> dict[str, str]:
        """The TwiML <Parameter>s that carry this context to the media stream."""
        values = {
            "profile": self.profile,
            "interview_id": self.interview_id,
            "candidate_name": self.candidate_name,
            "role": self.role,
        }
        return {k: v for k, v in values.items() if v}

    @classmethod
    def from_parameters(cls, params: Mapping[str, str]) -> InterviewContext:
        """The context back from a stream's `start.customParameters`."""
        return cls(
            profile=params.get("profile") or DEFAULT_PROFILE,
            interview_id=params.get("interview_id") or None,
            candidate_name=params.get("candidate_name") or None,
            role=params.get("role") or None,
        )


class InterviewDirectory(Protocol):
    """Looks up scheduled interviews (the scheduling store implements it)."""

    async def interview_by_code(self, code: str) -> InterviewContext | None:
        """The scheduled interview whose 6-digit code this is, if it may start now."""
        ...

    async def interview_by_id(self, interview_id: str) -> InterviewContext | None:
        """The scheduled interview with this id, if any."""
        ...
