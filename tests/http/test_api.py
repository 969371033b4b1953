"""GET /api/calls and /api/calls/{call_sid}: bearer auth, filters, pagination, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from bot.http.calls_api import api_routes
from bot.interview.context import InterviewContext
from bot.interview.profiles import Profile
from bot.runtime import build_runtime
from bot.store import Store, database_url
from bot.voicelive.client import VoiceLiveConnection, VoiceLiveUnavailable
from tests.support import make_settings

TOKEN = "api-token-for-tests-0123456789"
T0 = datetime(2026, 11, 25, 6, 0, 0, tzinfo=UTC)
GOOD = {"Authorization": f"Bearer {TOKEN}"}
ROUTES = ("/api/calls", "/api/calls/CA0", "/api/calls/CA404")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(database_url(None, tmp_path))
    for i in range(5):
        sid = f"CA{i}"
        await opened.call_started(
            call_sid=sid,
            direction="outbound" if i % 2 else "inbound",
            started_at=T0 + timedelta(minutes=i),
            from_masked="+1******1234",
            to_masked="+1******0006",
            instance="test",
        )
    await opened.add_turn(
        "CA0", speaker="bot", text="Hello there.", at=T0, offset_ms=60, interrupted=True
    )
    await opened.add_turn(
        "CA0", speaker="caller", text="Hi.", at=T0, offset_ms=900, interrupted=False
    )
    await opened.call_ended("CA0", end_reason="caller_hangup", response_ms=[600, 700])
    await opened.call_ended("CA1", status="failed", end_reason="error")
    yield opened
    await opened.close()


async def no_model(_profile: Profile, _context: InterviewContext) -> VoiceLiveConnection:
    raise VoiceLiveUnavailable("no model in these tests")


def client_for(store: Store, tmp_path: Path, token: str | None = TOKEN) -> httpx.AsyncClient:
    app = Starlette(routes=api_routes())
    app.state.store = store
    app.state.services = build_runtime(make_settings(tmp=tmp_path, API_TOKEN=token), no_model)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "Bearer "},
        {"Authorization": TOKEN},
    ],
)
async def test_401_without_the_right_token(
    store: Store, tmp_path: Path, headers: dict[str, str]
) -> None:
    async with client_for(store, tmp_path) as client:
        for route in ROUTES:
            response = await client.get(route, headers=headers)
            assert response.status_code == 401, route
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["error"]
            assert TOKEN not in response.text


async def test_401_when_api_token_is_not_configured(store: Store, tmp_path: Path) -> None:
    async with client_for(store, tmp_path, token="") as client:
        for route in ROUTES:
            for headers in ({}, GOOD, {"Authorization": "Bearer "}):
                response = await client.get(route, headers=headers)
                assert response.status_code == 401
                assert "API_TOKEN is not configured" in response.json()["error"]


async def test_list_and_paginate(store: Store, tmp_path: Path) -> None:
    async with client_for(store, tmp_path) as client:
        response = await client.get("/api/calls", headers=GOOD)
        assert response.status_code == 200
        body = response.json()
        assert [c["call_sid"] for c in body["calls"]] == ["CA4", "CA3", "CA2", "CA1", "CA0"]
        assert body["next"] is None
        first = body["calls"][-1]
        assert first["status"] == "completed" and first["end_reason"] == "caller_hangup"
        assert first["response_ms_p50"] == 650.0
        assert first["usage"]["output_audio_tokens"] == 0
        assert "transcript" not in first

        seen: list[str] = []
        params: dict[str, str] = {"limit": "2"}
        while True:
            body = (await client.get("/api/calls", params=params, headers=GOOD)).json()
            seen += [c["call_sid"] for c in body["calls"]]
            if body["next"] is None:
                break
            params["cursor"] = body["next"]
        assert seen == ["CA4", "CA3", "CA2", "CA1", "CA0"]


async def test_filters(store: Store, tmp_path: Path) -> None:
    async with client_for(store, tmp_path) as client:

        async def sids(**params: str) -> list[str]:
            response = await client.get("/api/calls", params=params, headers=GOOD)
            assert response.status_code == 200, response.text
            return [c["call_sid"] for c in response.json()["calls"]]

        assert await sids(status="failed") == ["CA1"]
        assert await sids(status="in_progress") == ["CA4", "CA3", "CA2"]
        assert await sids(since="2026-11-25T06:03:00Z") == ["CA4", "CA3"]
        assert await sids(since="2026-11-25T08:03:00+02:00") == ["CA4", "CA3"]
        assert await sids(since="2026-11-25T06:03:00") == ["CA4", "CA3"]  # no offset: UTC
        assert await sids(since="2026-11-25 06:03:00") == ["CA4", "CA3"]
        raw = "/api/calls?since=2026-11-25T08:03:00+02:00"  # '+' unescaped: arrives as ' '
        assert [c["call_sid"] for c in (await client.get(raw, headers=GOOD)).json()["calls"]] == [
            "CA4",
            "CA3",
        ]
        assert await sids(since="2026-11-25T06:02:00Z", status="in_progress", limit="1") == ["CA4"]


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"since": "yesterday"}, "since"),
        ({"status": "done"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "garbage!"}, "cursor"),
    ],
)
async def test_bad_query_values_are_400(
    store: Store, tmp_path: Path, params: dict[str, str], name: str
) -> None:
    async with client_for(store, tmp_path) as client:
        response = await client.get("/api/calls", params=params, headers=GOOD)
        assert response.status_code == 400
        assert response.json()["error"].startswith(f"{name}:")


async def test_show_with_transcript(store: Store, tmp_path: Path) -> None:
    async with client_for(store, tmp_path) as client:
        response = await client.get("/api/calls/CA0", headers=GOOD)
        assert response.status_code == 200
        call = response.json()
        assert call["call_sid"] == "CA0"
        assert call["from"] == "+1******1234"
        assert call["transcript"] == [
            {
                "speaker": "bot",
                "text": "Hello there.",
                "at": T0.isoformat(),
                "offset_ms": 60.0,
                "interrupted": True,
            },
            {
                "speaker": "caller",
                "text": "Hi.",
                "at": T0.isoformat(),
                "offset_ms": 900.0,
                "interrupted": False,
            },
        ]


async def test_unknown_call_is_404(store: Store, tmp_path: Path) -> None:
    async with client_for(store, tmp_path) as client:
        response = await client.get("/api/calls/CA404", headers=GOOD)
        assert response.status_code == 404
        assert response.json() == {"error": "no call with this CallSid"}
