"""The life of the model's responses and of the call's ending: two small enums, every
transition written here once (the core decides when; this module says what changes)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.endreasons import EndReason


class Response(StrEnum):
    """Where the model's current response is."""

    IDLE = "idle"  # none asked for, none running
    REQUESTED = "requested"  # response.create sent, its response.created not come yet
    REQUESTED_TO_DROP = "requested_to_drop"  # ... and cancelled when it comes (a key overtook it)
    ACTIVE = "active"  # created, its response.done not come yet


class Ending(StrEnum):
    """How far the call is from hanging up."""

    TALKING = "talking"  # the interview goes on
    WRAPPING_UP = "wrapping_up"  # wrap_up: the closing line is due, not asked for yet
    CLOSING = "closing"  # the closing line is asked for or being said (cannot be interrupted)
    PLAYING_OUT = "playing_out"  # the last words play out, then hang-up


@dataclass(slots=True)
class Utterance:
    """One bot item: what was generated, when it was first sent, whether it was cut off.
    (What was sent and heard of it is the playout's: `sent_ms`, `heard_ms`.)"""

    item_id: str
    content_index: int = 0
    generated_ms: float = 0.0  # audio received from this session (0 after a new session)
    first_sent_at: float | None = None  # when its first audio went to Twilio
    cut: bool = False  # a barge-in, key or drop stopped it before its end


class Turns:
    """The response state and the ending state, and each transition between them.

    | from                | on                              | to                    |
    |---------------------|---------------------------------|-----------------------|
    | IDLE                | response.create sent            | REQUESTED             |
    | REQUESTED           | key overtakes it                | REQUESTED_TO_DROP     |
    | REQUESTED(_TO_DROP) | response.created                | ACTIVE (or cancelled) |
    | REQUESTED(_TO_DROP) | refused, wrap-up grace over     | IDLE                  |
    | ACTIVE              | response.done, cancel           | IDLE                  |
    | any                 | a new session (see `resumed`)   | what its replay asked |
    | TALKING             | wrap_up                         | WRAPPING_UP           |
    | WRAPPING_UP         | closing line asked              | CLOSING               |
    | CLOSING             | its response.done               | PLAYING_OUT           |
    | TALKING             | end_interview                   | PLAYING_OUT           |
    | PLAYING_OUT (no     | barge-in or key                 | TALKING               |
    |   wrap-up)          |                                 |                       |
    """

    def __init__(self) -> None:
        self.response = Response.IDLE
        self.response_id: str | None = None  # the ACTIVE response
        self.closing_response: str | None = None  # the response saying the closing line
        self.ending = Ending.TALKING
        self.end_reason: str | None = None  # set by wrap_up: the call's end reason
        self.respond_when_done = False  # an answer is owed once the current response is done
        self.asked_say: str | None = None  # the fixed line of the response asked for, if any
        self.said: dict[str, str | None] = {}  # response id -> its fixed line
        self.dropped: set[str] = set()  # responses cancelled: their audio and tools are ignored
        self.cancels = 0
        self.created = 0  # responses created in this call

    # ---- questions ----------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """A response is asked for or running: no other response.create may go."""
        return self.response is not Response.IDLE

    @property
    def requested(self) -> bool:
        return self.response in (Response.REQUESTED, Response.REQUESTED_TO_DROP)

    @property
    def ending_now(self) -> bool:
        """Wrap-up began or the last words play out: nothing new is asked for."""
        return self.end_reason is not None or self.ending is Ending.PLAYING_OUT

    @property
    def closing_asked(self) -> bool:
        """The closing line was asked for (and perhaps said)."""
        return self.ending is Ending.CLOSING or (
            self.ending is Ending.PLAYING_OUT and self.end_reason is not None
        )

    # ---- the response -------------------------------------------------------------------------

    def asked(self, say: str | None) -> None:
        """response.create went out. While a response runs (the service's own turn detection
        may start one) it stays ACTIVE, so a barge-in or key still cancels it: the request is
        refused, or starts once that one is done (`on_created`)."""
        if self.response is not Response.ACTIVE:
            self.response = Response.REQUESTED
        self.asked_say = say

    def overtaken(self) -> None:
        """A key wants another answer than the one asked for: drop it when it is created."""
        if self.response is Response.REQUESTED:
            self.response = Response.REQUESTED_TO_DROP

    def on_created(self, response_id: str) -> bool:
        """response.created; True when it must be cancelled at once (a key overtook it)."""
        drop = self.response is Response.REQUESTED_TO_DROP
        self.response = Response.ACTIVE
        self.response_id = response_id
        self.said[response_id] = self.asked_say
        self.asked_say = None
        if len(self.said) > 200:
            self.said.pop(next(iter(self.said)))
        self.created += 1
        if self.ending is Ending.CLOSING and self.closing_response is None:
            self.closing_response = response_id
            return False
        return drop

    def on_done(self, response_id: str) -> None:
        if self.response is Response.ACTIVE and response_id == self.response_id:
            self.response = Response.IDLE
            self.response_id = None

    def refused(self) -> None:
        """The request was refused or given up on: nothing more is coming for it."""
        if self.requested:
            self.response = Response.IDLE

    def cancel(self) -> str | None:
        """Cancel the active response; the id to send response.cancel for, if any."""
        if self.response is not Response.ACTIVE or self.response_id is None:
            return None
        cancelled = self.response_id
        self.dropped.add(cancelled)
        if len(self.dropped) > 500:
            self.dropped.discard(next(iter(self.dropped)))
        self.response = Response.IDLE
        self.response_id = None
        self.cancels += 1
        return cancelled

    def resumed(self, planned: bool, asked: list[str | None], key_pending: bool) -> None:
        """A new session took over: the old one's response is gone; what its replay asked for
        (the fixed lines of its response.create events) is what is requested now."""
        requested = self.requested
        if not planned or key_pending:
            requested = bool(asked)  # a recycle asks for none, unless a key was pressed
        self.response = Response.REQUESTED if requested else Response.IDLE
        self.response_id = None
        self.respond_when_done = False
        self.asked_say = asked[0] if asked else None
        self.closing_response = None

    # ---- the ending ---------------------------------------------------------------------------

    def wrap_up(self, reason: str) -> bool:
        """Begin the ending; False if it began already (or the model said goodbye)."""
        if self.ending_now:
            return False
        self.end_reason = reason
        self.ending = Ending.WRAPPING_UP
        return True

    def closing_requested(self, closing: str) -> None:
        self.ending = Ending.CLOSING
        self.asked(closing)

    def play_out(self) -> None:
        """The last words are all asked for: hang up once they have played."""
        self.ending = Ending.PLAYING_OUT

    def interrupted(self) -> None:
        """The caller cut in on the model's goodbye (end_interview, not a wrap-up)."""
        if self.ending is Ending.PLAYING_OUT and self.end_reason is None:
            self.ending = Ending.TALKING

    @property
    def hang_up_reason(self) -> str:
        return self.end_reason or EndReason.INTERVIEW_FINISHED
