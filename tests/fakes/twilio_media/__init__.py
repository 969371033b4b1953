"""Fake Twilio caller: the Twilio side of a bidirectional Media Streams WebSocket, with playout,
split into the call (connection, what it receives), the caller (what it sends), the playout
clock, and the protocol's constants and records."""

from .call import FakeTwilioCall
from .playout import Chunk
from .protocol import (
    BINARY_FRAME,
    FRAME_BYTES,
    FRAME_MS,
    INVALID_MESSAGE,
    MULAW_BYTES_PER_S,
    SILENCE_FRAME,
    CallConnectError,
    Clear,
    Gap,
    MarkEcho,
    PlayedChunk,
    ProtocolError,
)

__all__ = [
    "BINARY_FRAME",
    "FRAME_BYTES",
    "FRAME_MS",
    "INVALID_MESSAGE",
    "MULAW_BYTES_PER_S",
    "SILENCE_FRAME",
    "CallConnectError",
    "Chunk",
    "Clear",
    "FakeTwilioCall",
    "Gap",
    "MarkEcho",
    "PlayedChunk",
    "ProtocolError",
]
