"""The recording under a call's timeline: what the console needs of a recordings store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response

from bot.recording.ranges import Unsatisfiable, byte_range

MAX_WAVEFORM_BYTES = 64 * 1024 * 1024  # a longer recording gets no waveform (the player works)


@dataclass(frozen=True)
class RecordingInfo:
    size: int
    content_type: str = "audio/wav"


class Recordings(Protocol):
    """A call's recording: its size, and a byte range of it ([start, end))."""

    async def stat(self, call_sid: str) -> RecordingInfo | None: ...
    async def read(self, call_sid: str, start: int, end: int) -> bytes: ...


class StoredRecordings:
    """The console's view of the runtime's recordings store (bot/recording/store.py): its
    stereo FLAC files, sized and read by byte range."""

    def __init__(self, store: Any) -> None:
        self.store = store

    async def stat(self, call_sid: str) -> RecordingInfo | None:
        info = await self.store.stat(call_sid)
        return None if info is None else RecordingInfo(info.bytes, "audio/flac")

    async def read(self, call_sid: str, start: int, end: int) -> bytes:
        return b"".join([chunk async for chunk in self.store.read(call_sid, start, end - 1)])


def recordings_of(request: Request) -> Recordings | None:
    """The runtime's recordings store, if this deployment has one."""
    found = getattr(request.app.state, "recordings", None)
    if found is None:
        found = getattr(getattr(request.app.state, "services", None), "recordings", None)
    if hasattr(found, "sink"):  # the runtime's store (bot/recording/): reads in chunks
        return StoredRecordings(found)
    return found if hasattr(found, "stat") and hasattr(found, "read") else None


async def serve(store: Recordings, call_sid: str, range_header: str | None) -> Response:
    """The recording (or the asked-for range of it) for the player; 404 if there is none."""
    info = await store.stat(call_sid)
    if info is None:
        return Response("no recording", status_code=404, media_type="text/plain")
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, no-store"}
    try:
        wanted = byte_range(range_header, info.size)  # the API's reading of Range (inclusive)
    except Unsatisfiable:
        headers["Content-Range"] = f"bytes */{info.size}"
        return Response(status_code=416, headers=headers)
    first, last = wanted or (0, info.size - 1)
    body = await store.read(call_sid, first, last + 1)
    if wanted is not None:
        headers["Content-Range"] = f"bytes {first}-{last}/{info.size}"
    return Response(body, status_code=206 if wanted else 200, headers=headers,
                    media_type=info.content_type)  # fmt: skip
