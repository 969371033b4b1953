"""The OpenAPI document names every /api route of the app, and nothing else: a route added
without documenting it (or a documented one removed) fails here."""

from __future__ import annotations

from pathlib import Path

import httpx
from starlette.routing import Route

from bot.http.app import create_app
from bot.http.openapi import DOCUMENT
from tests.support import make_settings

METHODS = {"get", "post", "put", "patch", "delete"}


def test_the_document_and_the_routes_agree(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp=tmp_path))
    routed = {
        (route.path, method.lower())
        for route in app.routes
        if isinstance(route, Route) and route.path.startswith("/api/")
        for method in route.methods or ()
        if method.lower() in METHODS
    }
    documented = {(path, method) for path, item in DOCUMENT["paths"].items() for method in item}
    assert routed - documented == set(), "routes missing from bot/http/openapi.py"
    assert documented - routed == set(), "documented routes the app does not have"
    assert DOCUMENT["openapi"].startswith("3.1")


async def test_the_document_is_served_without_a_token(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp=tmp_path))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/api/openapi.json")
        assert response.status_code == 200 and response.json() == DOCUMENT
        wrong = await client.request("TRACE", "/api/interviews")
        assert wrong.status_code == 405 and wrong.json()["error"].startswith("method: TRACE")
        missing = await client.get("/api/nothing")
        assert missing.status_code == 404 and missing.json()["error"].startswith("path:")
        twilio = await client.request("PUT", "/twilio/voice")  # Starlette's text, as before
        assert twilio.status_code == 405 and twilio.text == "Method Not Allowed"
