"""The results webhook's state over HTTP: GET /api/deliveries, behind the bearer API_TOKEN."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.http.calls_api import DEFAULT_LIMIT, MAX_LIMIT, _authenticated, _error, _since
from bot.store.outbox import Outbox
from bot.store.outbox_events import EVENT_TYPES
from bot.store.outbox_tables import STATUSES


@_authenticated
async def list_deliveries(request: Request) -> Response:
    """GET /api/deliveries?status=&type=&since=&limit=&cursor= -> {"deliveries": [...],
    "next": cursor|null, "backlog": n, "enabled": bool}, newest first."""
    params = request.query_params
    status = params.get("status") or None
    if status is not None and status not in STATUSES:
        return _error(400, f"status: must be one of {', '.join(STATUSES)}")
    kind = params.get("type") or None
    if kind is not None and kind not in EVENT_TYPES:
        return _error(400, f"type: must be one of {', '.join(EVENT_TYPES)}")
    since = None
    if params.get("since"):
        try:
            since = _since(params["since"])
        except ValueError:
            return _error(400, "since: must be an ISO 8601 time like 2026-11-25T06:00:00Z")
    raw = params.get("limit") or str(DEFAULT_LIMIT)
    limit = int(raw) if raw.isdigit() else 0
    if not 1 <= limit <= MAX_LIMIT:
        return _error(400, f"limit: must be an integer from 1 to {MAX_LIMIT}")
    store = request.app.state.store
    if store is None:
        return _error(503, "no database: the call log is off")
    outbox = Outbox(store.engine)
    try:
        rows, following = await outbox.list(
            status=status, kind=kind, since=since, limit=limit, cursor=params.get("cursor") or None
        )
    except ValueError:
        return _error(400, "cursor: not a cursor this API returned")
    enabled = bool(request.app.state.services.settings.results_webhook_url)
    return JSONResponse({"deliveries": rows, "next": following,
                         "backlog": await outbox.backlog(), "enabled": enabled})  # fmt: skip


def delivery_routes() -> list[BaseRoute]:
    """The /api/deliveries route (reads app.state.store and .services)."""
    return [Route("/api/deliveries", list_deliveries, methods=["GET"])]
