"""DELETE /api/interviews/{id}?erase=true: erase a candidate (bot/store/erasure.py) over HTTP."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.interview.lifecycle import Conflict
from bot.store.erasure import UnknownInterview, erase_interview
from bot.store.retention import RecordingDeleter, no_recordings

ERASE_VALUES = {"true": True, "1": True, "false": False, "0": False}


def recording_deleter(services: Any) -> RecordingDeleter:
    """The runtime's recordings store's delete (once the runtime has one), else a no-op."""
    recordings = getattr(services, "recordings", None)
    return recordings.delete if recordings is not None else no_recordings


def erase_flag(request: Request) -> bool | None:
    """The `erase` query parameter: True/False, or None when it is not one of ERASE_VALUES."""
    raw = request.query_params.get("erase", "false").strip().lower()
    return ERASE_VALUES.get(raw)


async def erase(request: Request, interview_id: str) -> Response:
    """Erase the candidate of this interview: 200 with the audit row (already_erased on a
    repeat), 404 if unknown, 409 while it is being called."""
    services = request.app.state.services
    interviews = services.interviews
    try:
        erased = await erase_interview(
            interviews.engine,
            interview_id,
            by="api",
            recordings=recording_deleter(services),
            journal_dir=services.journal.directory,
            now=interviews.now,
        )
    except UnknownInterview:
        return JSONResponse({"error": "no interview with this id"}, status_code=404)
    except Conflict as exc:
        return JSONResponse({"error": str(exc), "field": "status"}, status_code=409)
    interview = await interviews.get(interview_id)
    return JSONResponse(
        {
            "erased": True,
            "already_erased": erased.already_erased,
            "erasure": erased.erasure,
            "interview": interview,
        }
    )
