"""What the call core asks the shell to do: typed commands out, carried out in order."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SendAudio:
    """Send one media message of μ-law audio to Twilio, then the mark that confirms it."""

    audio: bytes
    mark: str


@dataclass(frozen=True, slots=True)
class ClearPlayout:
    """Have Twilio drop the audio it holds (and reset the outbound transcoder)."""


@dataclass(frozen=True, slots=True)
class ToModel:
    """Send one event (JSON text, from bot.voicelive.events) to the model's session."""

    event: str


@dataclass(frozen=True, slots=True)
class TurnBoundary:
    """Tell the session keeper the model's turn ended (a recycle may switch now)."""


@dataclass(frozen=True, slots=True)
class HangUp:
    """End the call with this end reason."""

    reason: str


ToTwilio = SendAudio | ClearPlayout
Command = SendAudio | ClearPlayout | ToModel | TurnBoundary | HangUp
