"""DELETE /api/interviews/{id}?erase=true: the candidate's data erased (200, again 200 with
already_erased), 404 unknown, 409 while called, 400 naming `erase`; without it, a cancel."""

from __future__ import annotations

import httpx

from tests.http.test_interviews_api import client, create  # noqa: F401 (the fixture)
from tests.support.scheduling import T0, FakeClock


async def test_erase_over_http(client: httpx.AsyncClient) -> None:  # noqa: F811
    made = (await create(client)).json()
    url = f"/api/interviews/{made['id']}"
    response = await client.delete(url, params={"erase": "maybe"})
    assert response.status_code == 400 and response.json()["field"] == "erase"
    assert (await client.get(url)).json()["candidate_name"] == "Ada Lovelace"  # nothing done
    response = await client.delete(url, params={"erase": "true"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["already_erased"] is False and body["erasure"]["by"] == "api"
    assert body["erasure"]["interview_id"] == made["id"] and body["erasure"]["id"].startswith("er_")
    shown = (await client.get(url)).json()
    assert shown["candidate_name"] == "[erased]" and shown["phone"] == "+1******0142"
    assert shown["status"] == "cancelled" and shown["erased_at"] is not None
    again = (await client.delete(url, params={"erase": "true"})).json()
    assert again["already_erased"] is True and again["erasure"] == body["erasure"]
    missing = await client.delete("/api/interviews/iv_0000000000000000?erase=true")
    assert missing.status_code == 404


async def test_erase_waits_for_the_call_and_plain_delete_still_cancels(
    client: httpx.AsyncClient,  # noqa: F811
) -> None:
    made = (await create(client)).json()
    other = (await create(client)).json()
    clock: FakeClock = client.app.state.clock  # type: ignore[attr-defined]
    clock.t = T0
    await client.app.state.services.interviews.claim_due("test", 1)  # type: ignore[attr-defined]
    called = made if (await client.get(f"/api/interviews/{made['id']}")).json()[
        "status"] == "dialing" else other  # fmt: skip
    response = await client.delete(f"/api/interviews/{called['id']}?erase=true")
    assert response.status_code == 409 and response.json()["field"] == "status"
    rest = other if called is made else made
    cancelled = await client.delete(f"/api/interviews/{rest['id']}?erase=false")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["candidate_name"] == "Ada Lovelace"  # cancelled, not erased
