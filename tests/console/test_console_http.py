"""The console over HTTP: sign-in, cookies, CSRF, redirects, Easy Auth, masking, filters."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console.support import TOKEN, csrf_of, sign_in
from tests.support.server import make_settings, running_app

PAGES = ("/console/live", "/console/calls", "/console/interviews", "/console/usage",
         "/console/calls/CA1")  # fmt: skip


async def _client(tmp: Path, **env: Any) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    settings = make_settings(tmp=tmp, API_TOKEN=TOKEN, **env)
    async with running_app(settings) as (base, app):
        if env.get("PUBLIC_URL"):  # an https site: through the app (httpx keeps Secure cookies)
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                       base_url=env["PUBLIC_URL"])  # fmt: skip
        else:
            client = httpx.AsyncClient(base_url=base, follow_redirects=False)
        async with client:
            yield client, app


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    async for pair in _client(tmp_path):
        yield pair


async def test_without_a_session_every_page_redirects_to_sign_in(console: Any) -> None:
    client, _ = console
    for path in PAGES:
        response = await client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/console/signin?next=%2Fconsole"), path
    assert (await client.get("/console/calls/CA1/recording")).status_code == 303


async def test_sign_in_sets_a_strict_http_only_cookie_and_sign_out_clears_it(console: Any) -> None:
    client, _ = console
    refused = await sign_in(client, "wrong")
    assert refused.status_code == 401 and "not the API token" in refused.text
    response = await sign_in(client)
    assert response.status_code == 303 and response.headers["location"] == "/console/live"
    cookie = next(h for h in response.headers.get_list("set-cookie") if "console_session=" in h)
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # PUBLIC_URL is http here
    page = await client.get("/console/live")
    assert page.status_code == 200 and "Live calls" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    out = await client.post("/console/signout", data={"csrf": csrf_of(page.text)})
    assert out.status_code == 303 and out.headers["location"] == "/console/signin"
    assert (await client.get("/console/live")).status_code == 303


async def test_a_form_without_the_sessions_csrf_token_is_refused(console: Any) -> None:
    client, app = console
    await sign_in(client)
    body = {"candidate_name": "Ann", "phone": "+14155550123", "profile": "practice",
            "timezone": "UTC", "scheduled_at": "2030-01-01T10:00:00Z"}  # fmt: skip
    for csrf in ({}, {"csrf": "forged"}):
        response = await client.post("/console/interviews", data={**body, **csrf})
        assert response.status_code == 403 and "CSRF" in response.text
    assert await app.state.services.interviews.list() == []
    signin = await client.get("/console/signin")  # the sign-in form checks its own token
    response = await client.post("/console/signin", data={"csrf": "x" * 30, "token": TOKEN})
    assert response.status_code == 403 and signin.status_code in (200, 303)


async def test_schedule_uses_the_apis_messages_and_never_shows_a_full_number(
    console: Any,
) -> None:
    client, app = console
    await sign_in(client)
    page = await client.get("/console/interviews")
    when = (datetime.now(UTC) + timedelta(days=1)).replace(hour=12, minute=0, microsecond=0)
    body = {"csrf": csrf_of(page.text), "candidate_name": "Ann Lee", "phone": "+44 20 7946 0958",
            "profile": "practice", "timezone": "UTC", "scheduled_at": when.isoformat()}  # fmt: skip
    bad = await client.post("/console/interviews", data={**body, "phone": "555"})
    as_json = {k: v for k, v in body.items() if k != "csrf"} | {"phone": "555"}
    auth = {"Authorization": f"Bearer {TOKEN}"}
    api = await client.post("/api/interviews", headers=auth, json=as_json)
    assert bad.status_code == 400 and api.status_code == 400
    assert json.loads(api.text)["error"] in bad.text  # the same message as the API's
    ok = await client.post("/console/interviews", data=body)
    assert ok.status_code == 201 and "Scheduled iv_" in ok.text
    assert "+442079460958" not in ok.text and "+44******0958" in ok.text
    [interview] = await app.state.services.interviews.list()
    cancel = await client.post(f"/console/interviews/{interview['id']}/cancel",
                               data={"csrf": body["csrf"]})  # fmt: skip
    assert cancel.status_code == 200 and "Cancelled" in cancel.text
    assert (await app.state.services.interviews.get(interview["id"]))["status"] == "cancelled"


async def test_secure_cookie_when_public_url_is_https(tmp_path: Path) -> None:
    async for client, _ in _client(tmp_path, PUBLIC_URL="https://bot.example.com"):
        response = await sign_in(client)
        assert response.status_code == 303
        cookie = next(h for h in response.headers.get_list("set-cookie") if "session=" in h)
        assert "Secure" in cookie


async def test_the_principal_header_is_trusted_only_in_easyauth_mode(tmp_path: Path) -> None:
    claims = base64.b64encode(json.dumps({"claims": [{"typ": "name", "val": "Dee"}]}).encode())
    async for client, _ in _client(tmp_path):  # token mode: the header means nothing
        response = await client.get("/console/live", headers={"X-MS-CLIENT-PRINCIPAL-NAME": "x"})
        assert response.status_code == 303
    async for client, _ in _client(tmp_path, CONSOLE_AUTH="easyauth"):
        response = await client.get("/console/live")  # not signed in: the platform's sign-in
        assert response.status_code == 303
        assert response.headers["location"].startswith("/.auth/login/aad?post_login_redirect")
        response = await client.get("/console/live", headers={"X-MS-CLIENT-PRINCIPAL-NAME": "ann"})
        assert response.status_code == 200 and "ann" in response.text
        response = await client.get(
            "/console/live", headers={"X-MS-CLIENT-PRINCIPAL": claims.decode()}
        )
        assert response.status_code == 200 and "Dee" in response.text


async def test_calls_filters_match_the_api(console: Any) -> None:
    client, app = console
    store = app.state.store
    t0 = datetime(2026, 11, 25, 6, tzinfo=UTC)
    for i in range(4):
        await store.call_started(call_sid=f"CA{i}", direction="outbound" if i % 2 else "inbound",
                                 started_at=t0 + timedelta(minutes=i), from_masked="+1******0001",
                                 to_masked="+1******0002", instance="a",
                                 profile="backend" if i < 2 else "practice")  # fmt: skip
    await sign_in(client)
    page = (await client.get("/console/calls?direction=outbound&profile=backend")).text
    assert "CA1" in page and "CA0" not in page and "CA3" not in page
    api = await client.get("/api/calls?direction=outbound&profile=backend",
                           headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
    assert [c["call_sid"] for c in api.json()["calls"]] == ["CA1"]
    bad = await client.get("/console/calls?status=nope")
    assert bad.status_code == 400 and "status: must be one of" in bad.text
    paged = await client.get("/console/calls?limit=2")
    assert "CA3" in paged.text and "CA1" not in paged.text and 'rel="next"' in paged.text


async def test_live_shows_calls_in_progress_with_their_state(console: Any) -> None:
    client, app = console
    store = app.state.store
    await store.call_started(call_sid="CAlive", direction="outbound", started_at=datetime.now(UTC),
                             from_masked="+1******0001", to_masked="+1******0002",
                             instance="replica-b", profile="practice")  # fmt: skip
    await store.call_updated("CAlive", state="caller_speaking")
    await store.call_started(call_sid="CAdone", direction="inbound", started_at=datetime.now(UTC),
                             from_masked=None, to_masked=None, instance="a")  # fmt: skip
    await store.call_ended("CAdone", end_reason="caller_hung_up")
    await sign_in(client)
    rows = (await client.get("/console/live/rows")).text
    assert "CAlive" in rows and "caller speaking" in rows and "+1******0002" in rows
    assert "replica-b" in rows and "CAdone" not in rows


async def test_the_recording_is_served_in_ranges_behind_the_session(
    console: Any, tmp_path: Path
) -> None:
    from tests.console.support import FolderRecordings, write_wav

    client, app = console
    write_wav(tmp_path / "CArec.wav", 1.0)
    app.state.recordings = FolderRecordings(tmp_path)
    assert (await client.get("/console/calls/CArec/recording")).status_code == 303
    await sign_in(client)
    whole = await client.get("/console/calls/CArec/recording")
    assert whole.status_code == 200 and whole.content[:4] == b"RIFF"
    part = await client.get("/console/calls/CArec/recording", headers={"Range": "bytes=4-11"})
    assert part.status_code == 206 and part.content == whole.content[4:12]
    assert part.headers["content-range"] == f"bytes 4-11/{len(whole.content)}"
    bad = await client.get("/console/calls/CArec/recording", headers={"Range": "bytes=99999-"})
    assert bad.status_code == 416
    assert (await client.get("/console/calls/CAnone/recording")).status_code == 404
    wave = await client.get("/console/calls/CArec/waveform.svg")
    assert wave.status_code == 200 and wave.text.count("<rect") == 480


async def test_usage_per_day_and_profile_over_a_range(console: Any) -> None:
    client, app = console
    store = app.state.store
    t0 = datetime(2026, 11, 20, 10, tzinfo=UTC)
    for i, (day, profile, cost) in enumerate([(0, "a", 0.5), (0, "a", 0.25), (1, "b", 1.0),
                                              (9, "a", 7.0)]):  # fmt: skip
        sid = f"CAu{i}"
        await store.call_started(call_sid=sid, direction="inbound", from_masked=None,
                                 to_masked=None, instance="a", profile=profile,
                                 started_at=t0 + timedelta(days=day))  # fmt: skip
        await store.call_ended(sid, end_reason="caller_hung_up", duration_s=90.0,
                               cost_usd=cost, output_audio_tokens=100)  # fmt: skip
    await sign_in(client)
    page = await client.get("/console/usage?from=2026-11-20&to=2026-11-22&measure=calls")
    assert page.status_code == 200
    rows = re.findall(r"<tr><td>(2026-11-\d\d)</td><td>(\w+)</td><td class=\"num\">(\d+)</td>"
                      r"<td class=\"num\">([\d.]+)</td><td class=\"num\">(\d+)</td>"
                      r"<td class=\"num\">([\d.]+)</td></tr>", page.text)  # fmt: skip
    assert rows == [("2026-11-20", "a", "2", "3.00", "200", "0.7500"),
                    ("2026-11-21", "b", "1", "1.50", "100", "1.0000")]  # fmt: skip
    assert page.text.count("<title>2026-11-2") == 2  # a bar per day and profile with calls
    assert ">11-22<" in page.text  # an empty day still has its place on the axis
    bad = await client.get("/console/usage?from=2026-11-22&to=2026-11-20")
    assert bad.status_code == 400 and "to: must be on or after from" in bad.text
