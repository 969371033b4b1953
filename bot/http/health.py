"""Liveness and readiness: GET /healthz (the process is alive), GET /readyz (send it calls)."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.observability import telemetry
from bot.runtime import Runtime
from bot.store import Store
from bot.twilio.twiml import redirect_twiml

log = structlog.get_logger(__name__)

DB_TIMEOUT_S = 2.0  # well under the probe's own timeout


async def database_problem(store: Store | None) -> str | None:
    """None when the call log's database answers `SELECT 1` in time, else what went wrong."""
    if store is None:
        return None
    try:
        async with asyncio.timeout(DB_TIMEOUT_S):
            async with store.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except TimeoutError:
        return f"database did not answer within {DB_TIMEOUT_S:g} s"
    except Exception as exc:  # any driver error means "not ready", never a crash
        return f"database unreachable: {type(exc).__name__}"
    return None


def refuse_call(services: Runtime, call_sid: str, retry_url: str | None = None) -> Response | None:
    """The polite TwiML for a new call this replica cannot take (draining, full), else None.

    Never an HTTP error: Twilio would read that to the caller as an application error. A full
    replica stays ready (so that when every replica is full callers still hear our TwiML, not
    the ingress's 503); with `retry_url` it first sends the call back through the ingress
    (`<Redirect>`), which may pick a sibling with room.
    """
    reason = services.refusal()
    if reason is None:
        return None
    if reason == "at capacity" and retry_url is not None:
        log.info("call.capacity_redirect", call_sid=call_sid, active_calls=services.calls)
        return Response(redirect_twiml(retry_url), media_type="application/xml")
    log.warning("call.refused", call_sid=call_sid, reason=reason, active_calls=services.calls)
    telemetry.refused(reason)
    docs = services.twiml
    body = docs.call_back_shortly if reason == "draining" else docs.at_capacity
    return Response(body, media_type="application/xml")


async def healthz(request: Request) -> Response:
    """The process is alive and its event loop answers."""
    services: Runtime = request.app.state.services
    return JSONResponse({"status": "ok", "active_calls": len(services.active)})


async def readyz(request: Request) -> Response:
    """Ready for new calls: not draining, database reachable; else 503 + reason.

    A full replica stays ready (`at_capacity: true`): were it not, with every replica full
    the ingress would answer Twilio 503 and callers would hear Twilio's error message instead
    of our at-capacity TwiML. The scale rule adds replicas long before they fill up.
    """
    services: Runtime = request.app.state.services
    body: dict[str, Any] = {
        "active_calls": len(services.active),
        "max_concurrent_calls": services.settings.max_concurrent_calls,
        "at_capacity": services.calls >= services.settings.max_concurrent_calls,
        "draining": services.draining,
    }
    reason = ("draining" if services.draining else None) or await database_problem(services.store)
    if reason is not None:
        log.debug("readyz.not_ready", reason=reason)
        return JSONResponse({"status": "not_ready", "reason": reason, **body}, status_code=503)
    return JSONResponse({"status": "ready", **body})
