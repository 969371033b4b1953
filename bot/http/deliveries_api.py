"""The results webhook's state over HTTP: GET /api/deliveries, behind the bearer API_TOKEN."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.http.calls_api import _authenticated, _error, paging
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
    try:
        since, limit = paging(params)
    except ValueError as exc:
        return _error(400, str(exc))
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
