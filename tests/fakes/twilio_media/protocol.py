"""What the fake Twilio caller knows of Media Streams: frame sizes, warning codes, the exact
shape of what the app may send, and the records it keeps (errors, marks, clears, playout)."""

from __future__ import annotations

import secrets
from typing import NamedTuple

FRAME_BYTES = 160  # 20 ms of μ-law 8 kHz
FRAME_MS = 20
MULAW_BYTES_PER_S = 8000
SILENCE_FRAME = b"\xff" * FRAME_BYTES

# Twilio warning codes (twilio.md, "Media Streams over WebSocket").
BINARY_FRAME = 31950
INVALID_MESSAGE = 31951

# Exact key sets of what the app may send (twilio.md, "app -> Twilio"); extra/missing => 31951.
APP_EVENT_KEYS: dict[str, frozenset[str]] = {
    "media": frozenset({"event", "streamSid", "media"}),
    "mark": frozenset({"event", "streamSid", "mark"}),
    "clear": frozenset({"event", "streamSid"}),
}


class ProtocolError(NamedTuple):
    """Something the app sent that Twilio would reject with a warning (not raised)."""

    at: float
    code: int
    reason: str
    raw: str | bytes


class MarkEcho(NamedTuple):
    """A mark sent back to the app."""

    name: str
    at: float
    by_clear: bool


class Clear(NamedTuple):
    """A `clear` from the app: when, and how much audio had been played by then."""

    at: float
    played_ms: float


class PlayedChunk(NamedTuple):
    """One outbound media payload as actually played (cut short by a clear, or still playing)."""

    start: float
    end: float
    n_bytes: int


class Gap(NamedTuple):
    """Silence between two consecutive played chunks."""

    start: float
    end: float
    ms: float


class CallConnectError(Exception):
    """The WebSocket to the app could not be opened; `status` is the HTTP status if refused."""

    def __init__(self, message: str, status: int | None = None, body: bytes = b"") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)
