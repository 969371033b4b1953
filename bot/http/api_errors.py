"""Starlette's own errors (no such route, method not allowed) as JSON under /api, plain text
elsewhere (Twilio's webhooks keep Starlette's default)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

MESSAGES = {
    404: "path: no such /api route (see /api/openapi.json)",
    405: "method: {method} is not allowed on this path (allowed: {allow})",
}


async def http_error(request: Request, exc: Exception) -> Response:
    """The app's HTTPException handler: JSON {error} naming what was wrong under /api."""
    assert isinstance(exc, HTTPException)
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    if not request.url.path.startswith("/api/"):
        return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)
    allow = (exc.headers or {}).get("Allow", "")
    template = MESSAGES.get(exc.status_code, "{detail}")
    message = template.format(method=request.method, allow=allow, detail=exc.detail)
    return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)
