"""Scheduling over HTTP: /api/interviews (create, list, show, reschedule, cancel), bearer auth."""

from __future__ import annotations

import json
import re
from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.http.calls_api import _authenticated
from bot.http.erase_api import erase, erase_flag
from bot.interview.lifecycle import STATUSES
from bot.interview.schedule import InvalidField, validate
from bot.observability.logs import mask_phone
from bot.store.interviews import Conflict, InterviewStore, NotFound

log = structlog.get_logger(__name__)

MAX_BODY = 16 * 1024
MAX_LIMIT = 1000
_ID = re.compile(r"^iv_[0-9a-f]{16}$")


def _error(status: int, message: str, field: str | None = None) -> JSONResponse:
    body = {"error": message} if field is None else {"error": message, "field": field}
    return JSONResponse(body, status_code=status)


def _invalid(exc: InvalidField) -> JSONResponse:
    return _error(400, str(exc), exc.field)


async def _json(request: Request) -> Any:
    """The JSON body; InvalidField('body', …) when it is missing, too large or not JSON."""
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise InvalidField("body", f"larger than {MAX_BODY} bytes")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidField("body", "must be a JSON object") from None


def _store(request: Request) -> InterviewStore:
    return request.app.state.services.interviews


def _profiles(request: Request) -> set[str] | None:
    profiles = request.app.state.services.profiles
    return set(profiles) if profiles else None


def _interview_id(request: Request) -> str | None:
    value = request.path_params["interview_id"]
    return value if _ID.match(value) else None


@_authenticated
async def create(request: Request) -> Response:
    """POST /api/interviews -> 201 with the interview (id, code, status …)."""
    try:
        fields = validate(await _json(request), profiles=_profiles(request))
        interview = await _store(request).create(fields)
    except InvalidField as exc:
        return _invalid(exc)
    log.info(
        "interview.scheduled",
        interview_id=interview["id"],
        phone=mask_phone(interview["phone"]),
        scheduled_at=interview["scheduled_at"],
    )
    return JSONResponse(interview, status_code=201)


@_authenticated
async def list_interviews(request: Request) -> Response:
    """GET /api/interviews?status=&limit= -> {"interviews": [...]} by scheduled time."""
    status = request.query_params.get("status") or None
    if status is not None and status not in STATUSES:
        return _error(400, f"status: must be one of {', '.join(STATUSES)}", "status")
    raw = request.query_params.get("limit", "100")
    limit = int(raw) if raw.isdigit() else 0
    if not 1 <= limit <= MAX_LIMIT:
        return _error(400, f"limit: must be an integer from 1 to {MAX_LIMIT}", "limit")
    return JSONResponse({"interviews": await _store(request).list(status=status, limit=limit)})


@_authenticated
async def show(request: Request) -> Response:
    """GET /api/interviews/{id} -> the interview with its attempts, or 404."""
    interview_id = _interview_id(request)
    interview = await _store(request).get(interview_id) if interview_id else None
    if interview is None:
        return _error(404, "no interview with this id")
    return JSONResponse(interview)


@_authenticated
async def reschedule(request: Request) -> Response:
    """PATCH /api/interviews/{id} -> the interview scheduled again (409 while it is called)."""
    interview_id = _interview_id(request)
    if interview_id is None:
        return _error(404, "no interview with this id")
    try:
        fields = validate(await _json(request), partial=True, profiles=_profiles(request))
        if not fields:
            raise InvalidField("body", "nothing to change")
        interview = await _store(request).reschedule(interview_id, fields)
    except InvalidField as exc:
        return _invalid(exc)
    except NotFound:
        return _error(404, "no interview with this id")
    except Conflict as exc:
        return _error(409, str(exc), "status")
    log.info(
        "interview.rescheduled", interview_id=interview_id, scheduled_at=interview["scheduled_at"]
    )
    return JSONResponse(interview)


@_authenticated
async def cancel(request: Request) -> Response:
    """DELETE /api/interviews/{id} -> the cancelled interview (409 while it is called);
    with ?erase=true the candidate's personal data is erased too (bot/http/erase_api.py)."""
    flag = erase_flag(request)
    if flag is None:
        return _error(400, "erase: must be true or false", "erase")
    interview_id = _interview_id(request)
    if interview_id is None:
        return _error(404, "no interview with this id")
    if flag:
        return await erase(request, interview_id)
    try:
        interview = await _store(request).cancel(interview_id)
    except NotFound:
        return _error(404, "no interview with this id")
    except Conflict as exc:
        return _error(409, str(exc), "status")
    log.info("interview.cancelled", interview_id=interview_id)
    return JSONResponse(interview)


def interview_routes() -> list[BaseRoute]:
    """The /api/interviews routes (they read app.state.services.interviews)."""
    return [
        Route("/api/interviews", create, methods=["POST"]),
        Route("/api/interviews", list_interviews, methods=["GET"]),
        Route("/api/interviews/{interview_id}", show, methods=["GET"]),
        Route("/api/interviews/{interview_id}", reschedule, methods=["PATCH"]),
        Route("/api/interviews/{interview_id}", cancel, methods=["DELETE"]),
    ]
