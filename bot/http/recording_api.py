"""GET /api/calls/{call_sid}/recording: the call's recording as FLAC, with HTTP byte ranges."""

from __future__ import annotations

from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from bot.http.calls_api import _authenticated, _error
from bot.recording.ranges import Unsatisfiable, byte_range
from bot.recording.store import CONTENT_TYPE, RecordingStore, checked_sid

log = structlog.get_logger(__name__)


@_authenticated
async def get_recording(request: Request) -> Response:
    """The recording, whole (200) or a range of it (206, or 416); 404 when there is none."""
    call_sid = request.path_params["call_sid"]
    try:
        checked_sid(call_sid)
    except ValueError as exc:
        return _error(400, str(exc))
    store: RecordingStore | None = request.app.state.services.recordings
    info = await store.stat(call_sid) if store is not None else None
    if info is None:
        return _error(404, f"no recording for call {call_sid}")
    if not info.complete:
        return _error(409, "the call is still being recorded; try again when it has ended")
    assert store is not None
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Disposition": f'inline; filename="{call_sid}.flac"',
    }
    try:
        wanted = byte_range(request.headers.get("range"), info.bytes)
    except Unsatisfiable:
        headers["Content-Range"] = f"bytes */{info.bytes}"
        return _error(
            416, f"range not satisfiable: the recording has {info.bytes} bytes", **headers
        )
    status = 200
    first, last = 0, info.bytes - 1
    if wanted is not None:
        status, (first, last) = 206, wanted
        headers["Content-Range"] = f"bytes {first}-{last}/{info.bytes}"
    headers["Content-Length"] = str(last - first + 1)
    body = store.read(call_sid, first, last) if info.bytes else _empty()
    return StreamingResponse(body, status_code=status, headers=headers, media_type=CONTENT_TYPE)


async def _empty() -> Any:
    if False:
        yield b""


def recording_routes() -> list[BaseRoute]:
    """The recording route (mount it with the /api routes)."""
    return [Route("/api/calls/{call_sid}/recording", get_recording, methods=["GET"])]
