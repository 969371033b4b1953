"""Keys the candidate may press during the interview (DTMF): what each asks the interviewer."""

from __future__ import annotations

from dataclasses import dataclass

REPEAT_PREFIX = "Key *:"
SKIP_PREFIX = "Key #:"
MIN_INTERVAL_S = 1.0  # presses closer together than this are one press (a held or bounced key)


@dataclass(frozen=True)
class KeyAction:
    """What a key asks for: a name for logs and records, and the system message to send."""

    name: str
    message: str


REPEAT = KeyAction(
    "repeat",
    f"{REPEAT_PREFIX} the candidate pressed star to hear the question again. Repeat your last "
    "question, in the same or simpler words, then wait for the answer.",
)
SKIP = KeyAction(
    "skip",
    f"{SKIP_PREFIX} the candidate pressed pound to skip this question. Do not assess it. Say "
    "briefly that you will move on and ask the next question; if it was the last question, "
    "say the closing line and call end_interview.",
)
ACTIONS = {"*": REPEAT, "#": SKIP}


def action_for(digit: str) -> KeyAction | None:
    """The action of a key, or None for keys that mean nothing during the interview."""
    return ACTIONS.get(digit)


class KeyDebouncer:
    """Lets through at most one press per MIN_INTERVAL_S (clock values are passed in)."""

    def __init__(self, interval_s: float = MIN_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._last: float | None = None

    def accept(self, now: float) -> bool:
        if self._last is not None and now - self._last < self.interval_s:
            return False
        self._last = now
        return True
