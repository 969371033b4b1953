"""Contract checks of our wire traffic against the vendors' own models (test-only).

The fakes and test clients hand every event and document they see to `voicelive` and
`twilio`; a violation is recorded here and fails the running test (see tests/conftest.py),
naming the event or document and the JSON/XML path. Opt out with
`@pytest.mark.contract_exempt("why")` (traffic malformed on purpose) or, for one fake,
`FakeVoiceLive(check_contract=False)`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass
class Violation:
    """One event or document that breaks the vendor's contract."""

    source: str  # who sent it, e.g. "bot -> Voice Live"
    name: str  # the event type or document name
    errors: list[str]
    sample: str  # the offending payload, shortened

    def __str__(self) -> str:
        problems = "\n    ".join(self.errors)
        return f"{self.source}: {self.name}\n    {problems}\n    in {self.sample}"


VIOLATIONS: list[Violation] = []


def shorten(payload: Any, limit: int = 400) -> str:
    text = payload if isinstance(payload, str) else json.dumps(payload, default=str)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"


def record(source: str, name: str, errors: list[str], payload: Any) -> None:
    if errors:
        VIOLATIONS.append(Violation(source, name, errors, shorten(payload)))


def take() -> list[Violation]:
    """The violations recorded since the last take (and forget them)."""
    found = list(VIOLATIONS)
    VIOLATIONS.clear()
    return found


def report(found: list[Violation]) -> str:
    return f"{len(found)} contract violation(s):\n" + "\n".join(f"  {v}" for v in found)
