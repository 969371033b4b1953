"""/api/interviews: bearer auth, create/list/show/reschedule/cancel, and a clear 4xx naming the
field for every kind of bad input (nothing is stored when the input is bad)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from bot.http.interviews_api import interview_routes
from bot.interview.context import InterviewContext
from bot.interview.profiles import Profile
from bot.runtime import build_runtime
from bot.store import Store, database_url
from bot.store.interviews import InterviewStore
from bot.voicelive.client import VoiceLiveConnection, VoiceLiveUnavailable
from tests.support import make_settings
from tests.support.scheduling import T0, FakeClock

TOKEN = "api-token-for-tests-0123456789"
GOOD = {"Authorization": f"Bearer {TOKEN}"}
BODY = {
    "candidate_name": "Ada Lovelace",
    "phone": "+1 (415) 555-0142",
    "profile": "practice",
    "scheduled_at": "2026-11-24T10:00:00-05:00",
    "timezone": "America/New_York",
}


async def no_model(_profile: Profile, _context: InterviewContext) -> VoiceLiveConnection:
    raise VoiceLiveUnavailable("no model in these tests")


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    store = await Store.open(database_url(None, tmp_path))
    clock = FakeClock(T0 - timedelta(hours=1))
    app = Starlette(routes=interview_routes())
    runtime = build_runtime(make_settings(tmp=tmp_path, API_TOKEN=TOKEN), no_model, store=store)
    runtime.interviews = InterviewStore(store.engine, now=clock.now)  # on the test's clock
    app.state.services = runtime
    app.state.clock = clock
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=GOOD) as c:
        c.app = app  # type: ignore[attr-defined]
        yield c
    await store.close()


async def create(client: httpx.AsyncClient, **changes: Any) -> httpx.Response:
    return await client.post("/api/interviews", json={**BODY, **changes})


async def test_every_route_needs_the_token(client: httpx.AsyncClient) -> None:
    made = (await create(client)).json()["id"]
    for method, path in [
        ("POST", "/api/interviews"),
        ("GET", "/api/interviews"),
        ("GET", f"/api/interviews/{made}"),
        ("PATCH", f"/api/interviews/{made}"),
        ("DELETE", f"/api/interviews/{made}"),
    ]:
        for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong"}):
            response = await client.request(method, path, json=BODY, headers=headers)
            assert response.status_code == 401, (method, path)
    listed = (await client.get("/api/interviews")).json()["interviews"]
    assert [i["status"] for i in listed] == ["scheduled"]  # nothing changed


async def test_create_list_show_reschedule_cancel(client: httpx.AsyncClient) -> None:
    response = await create(client, window_start="08:30", window_end="18:00")
    assert response.status_code == 201
    made = response.json()
    assert made["phone"] == "+14155550142"  # normalised
    assert made["scheduled_at"] == "2026-11-24T15:00:00+00:00" and made["status"] == "scheduled"
    assert (made["window_start"], made["window_end"], made["timezone"]) == (
        "08:30",
        "18:00",
        "America/New_York",
    )
    assert len(made["code"]) == 6 and made["attempts"] == []
    listed = (await client.get("/api/interviews", params={"status": "scheduled"})).json()
    assert [i["id"] for i in listed["interviews"]] == [made["id"]]
    assert (await client.get("/api/interviews", params={"status": "failed"})).json() == {
        "interviews": []
    }
    shown = (await client.get(f"/api/interviews/{made['id']}")).json()
    assert shown == made
    moved = await client.patch(
        f"/api/interviews/{made['id']}", json={"scheduled_at": "2026-11-24T16:00:00Z"}
    )
    assert moved.status_code == 200 and moved.json()["scheduled_at"] == "2026-11-24T16:00:00+00:00"
    cancelled = await client.delete(f"/api/interviews/{made['id']}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = await client.patch(f"/api/interviews/{made['id']}", json={"candidate_name": "X"})
    assert again.status_code == 409 and again.json()["field"] == "status"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"candidate_name": ""}, "candidate_name"),
        ({"candidate_name": "x" * 201}, "candidate_name"),
        ({"phone": "555-0142"}, "phone"),
        ({"phone": 14155550142}, "phone"),
        ({"phone": "+0123456789"}, "phone"),
        ({"profile": "no-such-profile"}, "profile"),
        ({"profile": "../etc"}, "profile"),
        ({"scheduled_at": "2026-11-24T10:00:00"}, "scheduled_at"),  # no offset
        ({"scheduled_at": "tomorrow at ten"}, "scheduled_at"),
        ({"scheduled_at": "2026-11-24T03:00:00-05:00"}, "scheduled_at"),  # 3 a.m. local
        ({"scheduled_at": "2026-11-01T10:00:00-05:00"}, "scheduled_at"),  # past
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": "+02:00"}, "timezone"),
        ({"timezone": None}, "timezone"),
        ({"window_start": "9am"}, "window_start"),
        ({"window_end": "24:00"}, "window_end"),
        ({"window_start": "20:00", "window_end": "09:00"}, "window_end"),
        ({"colour": "blue"}, "colour"),
    ],
)
async def test_bad_fields_are_400_naming_the_field(
    client: httpx.AsyncClient, changes: dict[str, Any], field: str
) -> None:
    response = await create(client, **changes)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert response.json()["error"].startswith(f"{field}: ")
    assert (await client.get("/api/interviews")).json() == {"interviews": []}


async def test_missing_fields_and_bad_bodies(client: httpx.AsyncClient) -> None:
    for name in ("candidate_name", "phone", "profile", "scheduled_at", "timezone"):
        body = {k: v for k, v in BODY.items() if k != name}
        response = await client.post("/api/interviews", json=body)
        assert response.status_code == 400 and response.json()["error"] == f"{name}: required"
    for raw in (b"{not json", b"[1, 2]", b"", b'"text"', b"\xff\xfe"):
        response = await client.post("/api/interviews", content=raw)
        assert response.status_code == 400 and response.json()["field"] == "body", raw
    huge = await client.post("/api/interviews", json={**BODY, "candidate_name": "x" * 20000})
    assert huge.status_code == 400 and huge.json()["field"] == "body"
    assert (await client.get("/api/interviews")).json() == {"interviews": []}


async def test_bad_list_show_patch_delete_requests(client: httpx.AsyncClient) -> None:
    made = (await create(client)).json()["id"]
    for params, field in (
        ({"status": "done"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"limit": "1001"}, "limit"),
    ):
        response = await client.get("/api/interviews", params=params)
        assert response.status_code == 400 and response.json()["field"] == field
    for path in ("/api/interviews/iv_0000000000000000", "/api/interviews/nonsense"):
        assert (await client.get(path)).status_code == 404
        assert (await client.patch(path, json={"candidate_name": "X"})).status_code == 404
        assert (await client.delete(path)).status_code == 404
    url = f"/api/interviews/{made}"
    for body, field in (
        ({}, "body"),
        ({"phone": "nope"}, "phone"),
        ({"id": "iv_x"}, "id"),
        ({"scheduled_at": "2026-11-24T23:00:00-05:00"}, "scheduled_at"),
    ):
        response = await client.patch(url, json=body)
        assert response.status_code == 400 and response.json()["field"] == field, body
    assert (await client.patch(url, content=b"{")).json()["field"] == "body"
    assert (await client.get(url)).json()["scheduled_at"] == "2026-11-24T15:00:00+00:00"
    # while the dialer has it, it can be neither moved nor cancelled
    clock: FakeClock = client.app.state.clock  # type: ignore[attr-defined]
    clock.t = T0
    await client.app.state.services.interviews.claim_due("test", 1)  # type: ignore[attr-defined]
    response = await client.delete(url)
    assert response.status_code == 409 and "dialing" in response.json()["error"]
    assert (await client.patch(url, json={"candidate_name": "X"})).status_code == 409
