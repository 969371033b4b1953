"""The call log over HTTP: GET /api/calls and /api/calls/{call_sid}, behind a bearer API_TOKEN."""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from functools import wraps

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.recording.store import recording_fields
from bot.store import CALL_STATUSES, Store

log = structlog.get_logger(__name__)

MAX_LIMIT = 200
DEFAULT_LIMIT = 50

Handler = Callable[[Request], Awaitable[Response]]


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


def _unauthorized(message: str) -> JSONResponse:
    return _error(401, message, **{"WWW-Authenticate": "Bearer"})


def _auth_failure(request: Request) -> JSONResponse | None:
    """None when the request carries the configured bearer token, else the 401 to answer."""
    expected = request.app.state.services.settings.api_token
    if not expected:
        return _unauthorized("API_TOKEN is not configured; the /api routes are disabled")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _unauthorized("missing bearer token (Authorization: Bearer <API_TOKEN>)")
    if not hmac.compare_digest(token.strip().encode(), expected.encode()):
        log.warning("api.unauthorized", path=request.url.path)
        return _unauthorized("invalid bearer token")
    return None


def _authenticated(handler: Handler) -> Handler:
    @wraps(handler)
    async def wrapper(request: Request) -> Response:
        return _auth_failure(request) or await handler(request)

    return wrapper


def _since(raw: str) -> datetime:
    raw = raw.strip()
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:  # an unescaped '+' in the offset arrives as a space
        value = datetime.fromisoformat(re.sub(r" (\d\d:?\d\d)$", r"+\1", raw))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def paging(params: Mapping[str, str]) -> tuple[datetime | None, int]:
    """A list route's `since` and `limit`; ValueError with the message naming the field."""
    since = None
    if params.get("since"):
        try:
            since = _since(params["since"])
        except ValueError:
            raise ValueError("since: must be an ISO 8601 time like 2026-11-25T06:00:00Z") from None
    raw = params.get("limit") or str(DEFAULT_LIMIT)
    limit = int(raw) if raw.isdigit() else 0
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit: must be an integer from 1 to {MAX_LIMIT}")
    return since, limit


@_authenticated
async def list_calls(request: Request) -> Response:
    """GET /api/calls?since=&status=&direction=&profile=&limit=&cursor= ->
    {"calls": [...], "next": cursor|null}."""
    params = request.query_params
    try:
        since, limit = paging(params)
    except ValueError as exc:
        return _error(400, str(exc))
    status = params.get("status") or None
    if status is not None and status not in CALL_STATUSES:
        return _error(400, f"status: must be one of {', '.join(CALL_STATUSES)}")
    store: Store = request.app.state.store
    narrow = {name: params.get(name) or None for name in ("direction", "profile")}
    try:
        calls, following = await store.list_calls(
            since=since, status=status, limit=limit, cursor=params.get("cursor") or None, **narrow
        )
    except ValueError:
        return _error(400, "cursor: not a cursor this API returned")
    return JSONResponse({"calls": calls, "next": following})


@_authenticated
async def show_call(request: Request) -> Response:
    """GET /api/calls/{call_sid} -> the call with its transcript, or 404."""
    store: Store = request.app.state.store
    call = await store.get_call(request.path_params["call_sid"])
    if call is None:
        return _error(404, "no call with this CallSid")
    recordings = request.app.state.services.recordings
    call["recording"].update(await recording_fields(recordings, call["call_sid"]))
    return JSONResponse(call)


def api_routes() -> list[BaseRoute]:
    """The /api routes (mount them in the app; they read app.state.store and .services)."""
    return [
        Route("/api/calls", list_calls, methods=["GET"]),
        Route("/api/calls/{call_sid}", show_call, methods=["GET"]),
    ]
