"""What the call core is told: typed events in, each carrying `now` (the core reads no clock)
and `ready`: whether the session keeper had a session to send to at that moment."""

from __future__ import annotations

from dataclasses import dataclass

from bot.voicelive import events as vl
from bot.voicelive.client import ConfigRefused
from bot.voicelive.keeper import Handover, Resumed

ModelEventKind = vl.ServerEvent | Resumed | Handover | ConfigRefused


@dataclass(frozen=True, slots=True)
class Start:
    """The model session is open: greet the caller."""

    now: float
    ready: bool = True


@dataclass(frozen=True, slots=True)
class CallerAudio:
    """Caller audio reached us (it went straight on to the model); `ms` of it."""

    ms: float
    now: float


@dataclass(frozen=True, slots=True)
class MarkEchoed:
    """Twilio echoed one of our marks: what was sent before it has played."""

    name: str
    now: float
    ready: bool = True


@dataclass(frozen=True, slots=True)
class Key:
    """The caller pressed a key (DTMF)."""

    digit: str
    now: float
    ready: bool = True


@dataclass(frozen=True, slots=True)
class Tick:
    """The clock moved on: the shell sends one at `next_deadline()`."""

    now: float
    ready: bool = True


@dataclass(frozen=True, slots=True)
class WrapUp:
    """End the interview now (time limit, drain): closing line, playout, hang-up."""

    reason: str
    now: float
    ready: bool = True


@dataclass(frozen=True, slots=True)
class FromModel:
    """One event from the model's session keeper, with what the keeper knew at that moment.

    `mulaw` is an AudioDelta's audio, transcoded for Twilio by the shell; `ready` says whether
    the keeper has a session to send to now; `offset_ms` is where the current session's audio
    starts in the caller's audio; `resumes` counts the sessions that took over so far.
    """

    event: ModelEventKind
    now: float
    ready: bool = True
    offset_ms: float = 0.0
    resumes: int = 0
    mulaw: bytes = b""


Input = Start | CallerAudio | MarkEchoed | Key | Tick | WrapUp | FromModel
