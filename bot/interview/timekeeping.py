"""The interview's clock: remaining time, when to tell the model, when to wrap up and stop."""

from __future__ import annotations

import time
from collections.abc import Callable

WRAP_UP_LEAD_S = 120.0  # ask the model to wrap up two minutes before the end
MAX_UPDATE_EVERY_S = 600.0  # remaining-time updates at most this far apart (if turns allow)
UPDATES_PER_INTERVIEW = 6  # ... and about this many per interview


def spoken(seconds: float) -> str:
    """A duration as a person would say it: "about 12 minutes", "about 40 seconds"."""
    seconds = max(0.0, seconds)
    if seconds >= 90:
        return f"about {round(seconds / 60)} minutes"
    if seconds >= 55:
        return "about 1 minute"
    return f"about {max(5, round(seconds / 5) * 5)} seconds"


class Timekeeper:
    """Knows the elapsed time of one interview and what the model should be told, and when.

    `duration_s` is the interview's length (the profile's, capped by MAX_CALL_DURATION_S).
    The wrap-up request comes WRAP_UP_LEAD_S before the end (a fifth of the interview for
    interviews shorter than ten minutes); remaining-time updates come at turn boundaries
    about UPDATES_PER_INTERVIEW times per interview. `now` is injectable for tests.
    """

    def __init__(
        self,
        duration_s: float,
        *,
        started: float | None = None,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.now = now
        self.duration_s = duration_s
        self.started = now() if started is None else started
        self.wrap_up_lead_s = min(WRAP_UP_LEAD_S, duration_s / 5)
        self.update_every_s = min(MAX_UPDATE_EVERY_S, duration_s / UPDATES_PER_INTERVIEW)
        self.last_update = self.started
        self.wrap_up_sent = False

    @property
    def ends_at(self) -> float:
        """The hard limit, on the `now` clock."""
        return self.started + self.duration_s

    @property
    def wrap_up_at(self) -> float:
        return self.ends_at - self.wrap_up_lead_s

    def elapsed(self) -> float:
        return self.now() - self.started

    def remaining(self) -> float:
        return max(0.0, self.ends_at - self.now())

    def status(self) -> str:
        """The remaining time as a system message (also for a fresh session after a reconnect)."""
        remaining = self.remaining()
        if self.wrap_up_sent or self.now() >= self.wrap_up_at:
            return self._wrap_up_text(remaining)
        return (
            f"Time check: {spoken(self.elapsed())} of this {spoken(self.duration_s)} interview "
            f"have passed; {spoken(remaining)} remain. Pace the remaining questions to fit."
        )

    def at_turn_boundary(self) -> str | None:
        """The system message due now, if any (call when the model has finished a turn)."""
        now = self.now()
        if now >= self.ends_at:
            return None  # the hard limit is handled by wrapping up, not by a message
        if not self.wrap_up_sent and now >= self.wrap_up_at:
            self.wrap_up_sent = True
            self.last_update = now
            return self._wrap_up_text(self.remaining())
        if not self.wrap_up_sent and now - self.last_update >= self.update_every_s:
            self.last_update = now
            return self.status()
        return None

    @staticmethod
    def _wrap_up_text(remaining: float) -> str:
        return (
            f"Time check: only {spoken(remaining)} remain. Wrap up now: let the candidate finish "
            "this answer, ask no new questions, then thank them, say the closing line and call "
            "end_interview."
        )
