"""Responses the local engine fails on purpose, as the service does on a rate limit."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.localengine.events import Event

RATE_LIMIT: Event = {
    "type": "rate_limit_error",
    "code": "rate_limit_exceeded",
    "message": "Rate limit reached for requests. Please try again later. (local engine)",
}


@dataclass
class FailurePlan:
    """Which responses fail (engine-wide, over every session): the next `pending` ones, and
    every `every`-th response the engine starts (0: none).

    A failed response is `response.created` then `response.done` with status `failed`,
    `status_details.error` as given, no output and no audio.
    """

    every: int = 0
    pending: list[Event] = field(default_factory=list)
    started: int = 0  # responses started, failed or not
    failed: int = 0  # responses failed

    def __post_init__(self) -> None:
        if self.every < 0:
            raise ValueError("every must be >= 0")

    def add(
        self,
        n: int,
        *,
        code: str = RATE_LIMIT["code"],
        error_type: str = RATE_LIMIT["type"],
        message: str = RATE_LIMIT["message"],
    ) -> None:
        """Fail the next n responses with this error."""
        self.pending.extend(
            {"type": error_type, "code": code, "message": message} for _ in range(n)
        )

    def take(self) -> Event | None:
        """For a response about to start: the error it fails with, or None."""
        self.started += 1
        error = None
        if self.pending:
            error = self.pending.pop(0)
        elif self.every and self.started % self.every == 0:
            error = dict(RATE_LIMIT)
        if error is not None:
            self.failed += 1
        return error
