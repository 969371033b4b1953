"""Where ops see the results webhook: GET /api/deliveries, `bot deliveries`, the settings, and
the runtime that starts a delivery worker only with RESULTS_WEBHOOK_URL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from bot.__main__ import main
from bot.config import ConfigError, load_settings
from bot.http.deliveries_api import delivery_routes
from bot.runtime import build_runtime
from bot.store import Store, database_url
from bot.store.outbox import Outbox
from bot.store.outbox_events import OPTION, emit
from tests.http.test_api import no_model
from tests.support import make_settings
from tests.support.scheduling import T0

TOKEN = "api-token-for-tests-0123456789"
GOOD = {"Authorization": f"Bearer {TOKEN}"}
HOOK = {"RESULTS_WEBHOOK_URL": "https://hr.example.com/hook",
        "RESULTS_WEBHOOK_SECRET": "0123456789abcdef-secret"}  # fmt: skip


async def fill(store: Store) -> list[str]:
    """Five events; the oldest failed (HTTP 400), the others pending. Ids newest first."""
    async with store.engine.begin() as conn:
        for i in range(5):
            kind = "interview.failed" if i == 0 else "call.ended"
            await emit(conn, kind, f"k{i}", f"CA{i}", {"n": i}, T0.replace(minute=i))
    outbox = Outbox(store.engine, now=lambda: T0.replace(minute=10))
    [oldest] = [c for c in await outbox.claim("t", 10, 60) if c.type == "interview.failed"]
    await outbox.settle(oldest, outcome="failed", http_status=400, error="HTTP 400")
    rows, _ = await outbox.list(limit=10)
    return [r["id"] for r in rows]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(database_url(None, tmp_path))
    yield opened
    await opened.close()


def client_for(store: Store, tmp_path: Path) -> httpx.AsyncClient:
    app = Starlette(routes=delivery_routes())
    app.state.store = store
    app.state.services = build_runtime(make_settings(tmp=tmp_path, API_TOKEN=TOKEN), no_model)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_api_lists_filters_and_pages(store: Store, tmp_path: Path) -> None:
    ids = await fill(store)
    async with client_for(store, tmp_path) as client:
        assert (await client.get("/api/deliveries")).status_code == 401
        page = (await client.get("/api/deliveries?limit=2", headers=GOOD)).json()
        assert [d["id"] for d in page["deliveries"]] == ids[:2]
        assert page["backlog"] == 4 and page["enabled"] is False
        rest = await client.get(f"/api/deliveries?limit=10&cursor={page['next']}", headers=GOOD)
        assert [d["id"] for d in rest.json()["deliveries"]] == ids[2:]
        failed = (await client.get("/api/deliveries?status=failed", headers=GOOD)).json()
        [row] = failed["deliveries"]
        assert (row["type"], row["last_status"], row["attempts"]) == ("interview.failed", 400, 1)
        assert "payload" not in row and "data" not in row  # the state, never the data
        kind = await client.get("/api/deliveries?type=call.ended", headers=GOOD)
        assert len(kind.json()["deliveries"]) == 4
        for query, field in (("status=gone", "status"), ("type=x", "type"),
                             ("limit=0", "limit"), ("since=yesterday", "since"),
                             ("cursor=zz", "cursor")):  # fmt: skip
            bad = await client.get(f"/api/deliveries?{query}", headers=GOOD)
            assert bad.status_code == 400 and bad.json()["error"].startswith(field), query


def test_cli_table_failed_and_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID", "TWILIO_PHONE_NUMBER", "PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "bot.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))

    async def setup() -> list[str]:
        async with await Store.open(database_url(f"sqlite:///{db}", tmp_path)) as s:
            return await fill(s)

    ids = asyncio.run(setup())
    capsys.readouterr()
    assert main(["deliveries"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("created (UTC)") and len(out) == 1 + 5 + 1
    assert out[-1] == "backlog: 4 event(s) waiting for delivery"
    assert main(["deliveries", "--failed"]) == 0
    [_header, row, _backlog] = capsys.readouterr().out.splitlines()
    assert ids[-1] in row and "failed" in row and "HTTP 400" in row
    assert main(["deliveries", "--json", "--type", "call.ended"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in lines] == ids[:4]


def test_the_secret_is_required_with_the_url(tmp_path: Path) -> None:
    env = {"DATA_DIR": str(tmp_path), "RESULTS_WEBHOOK_URL": HOOK["RESULTS_WEBHOOK_URL"]}
    with pytest.raises(ConfigError, match="RESULTS_WEBHOOK_SECRET"):
        load_settings(env)
    with pytest.raises(ConfigError, match="RESULTS_WEBHOOK_SECRET"):
        load_settings({**env, "RESULTS_WEBHOOK_SECRET": "short"})
    with pytest.raises(ConfigError, match="RESULTS_WEBHOOK_URL"):
        load_settings({**HOOK, "DATA_DIR": str(tmp_path), "RESULTS_WEBHOOK_URL": "ftp://x"})
    settings = load_settings({**HOOK, "DATA_DIR": str(tmp_path)})
    assert HOOK["RESULTS_WEBHOOK_SECRET"] in settings.secrets  # masked in logs


async def test_runtime_runs_a_worker_only_with_the_url(store: Store, tmp_path: Path) -> None:
    off = build_runtime(make_settings(tmp=tmp_path), no_model, store=store)
    assert off.deliveries is None and OPTION not in store.engine.get_execution_options()
    on = build_runtime(make_settings(tmp=tmp_path, **HOOK), no_model, store=store)
    assert on.deliveries is not None and on.deliveries.url == HOOK["RESULTS_WEBHOOK_URL"]
    assert store.engine.get_execution_options()[OPTION]["public_url"].startswith("http://127.0.0.1")
