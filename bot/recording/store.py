"""Where recordings are kept: the interface both stores offer, and the one built from settings."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any, Protocol

import structlog

from bot.recording.recorder import CallRecording, NotRecording, RecordingInfo, Sink

log = structlog.get_logger("bot.recording")

CONTENT_TYPE = "audio/flac"
CHUNK = 64 * 1024  # bytes per read when streaming a recording out
STALE_S = (
    10.0  # an unfinished file not written for this long (flushed every 2 s) was left by a crash
)
_SID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def checked_sid(call_sid: str) -> str:
    """The call SID, if it is safe as a file or blob name (ValueError otherwise)."""
    if not _SID.match(call_sid):
        raise ValueError("call_sid: letters, digits, '-' and '_' only (at most 64)")
    return call_sid


class RecordingStore(Protocol):
    """What the call, the API, the CLI and erasure use: a sink per call, and the stored files."""

    kind: str  # "dir" or "blob"

    def sink(self, call_sid: str) -> Sink:
        """Where this call's recording is written (used on the recording's own thread)."""
        ...

    async def stat(self, call_sid: str) -> RecordingInfo | None:
        """The recording's size and length, or None if there is none. One that a crash left
        unfinished is made whole first (bot/recording/repair.py)."""
        ...

    def read(self, call_sid: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes start..end (inclusive) of the recording, in chunks."""
        ...

    async def delete(self, call_sid: str) -> bool:
        """Delete the recording (erasure, opt-out); True if there was one."""
        ...


def open_call(store: RecordingStore, call_sid: str, consent: str, t0: float
              ) -> CallRecording | NotRecording:  # fmt: skip
    """The call's recording, started at t0 if its consent allows one (bot/call/consent.py)."""
    if consent not in ("on", "notice_given"):
        return NotRecording()
    recording = CallRecording(store.sink(call_sid), t0, call_sid)
    recording.start()
    return recording


async def recording_fields(store: RecordingStore | None, call_sid: str) -> dict[str, Any]:
    """What the store says of the call's recording now (it may have been deleted, or a crash
    may have left one the call record does not know of): for the call's JSON."""
    if store is None:
        return {}
    try:
        info = await store.stat(call_sid)
    except Exception as exc:  # the storage is down: the call record's values stand
        log.warning("recording.stat_failed", call_sid=call_sid, error=type(exc).__name__)
        return {}
    if info is None:
        return {"exists": False, "bytes": None, "duration_s": None}
    return {"exists": True, "bytes": info.bytes, "duration_s": info.duration_s,
            "complete": info.complete}  # fmt: skip
