"""GET /healthz and /readyz, and the TwiML documents in twiml/."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from bot.config import ConfigError
from bot.http.health import database_problem
from bot.twilio.twiml import AT_CAPACITY, BUILT_IN, CALL_BACK_SHORTLY, load_twiml
from tests.http.test_drain import refused_says
from tests.support import free_port
from tests.support.bridge import bridge, voice_params

ROOT = Path(__file__).resolve().parents[2]


async def test_readyz_is_ready_with_the_database_reachable(tmp_path: Path) -> None:
    async with bridge(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path}/calls.db") as b:
        async with httpx.AsyncClient(base_url=b.base) as client:
            ready = await client.get("/readyz")
            health = await client.get("/healthz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "active_calls": 0, "max_concurrent_calls": 60,
                            "at_capacity": False, "draining": False}  # fmt: skip
    assert health.status_code == 200 and health.json()["status"] == "ok"


async def test_readyz_says_when_the_database_is_unreachable(tmp_path: Path) -> None:
    closed_port = free_port()  # nothing listens there: connection refused, over a real socket
    engine = create_async_engine(f"postgresql+asyncpg://bot@127.0.0.1:{closed_port}/bot")
    try:
        assert "database unreachable" in (await database_problem(SimpleNamespace(engine=engine)))
        async with bridge(tmp_path) as b:
            b.app_state.services.store = SimpleNamespace(engine=engine)
            async with httpx.AsyncClient(base_url=b.base) as client:
                ready = await client.get("/readyz")
                health = await client.get("/healthz")
    finally:
        await engine.dispose()
    assert ready.status_code == 503
    assert ready.json()["status"] == "not_ready"
    assert ready.json()["reason"].startswith("database unreachable")
    assert health.status_code == 200  # alive all the same: no restart for a database outage


async def test_draining_flag_refuses_new_calls_with_the_call_back_twiml(tmp_path: Path) -> None:
    async with bridge(tmp_path) as b:
        b.app_state.services.draining = True
        refused = await b.post("/twilio/voice", voice_params("CA" + "5" * 32))
        async with httpx.AsyncClient(base_url=b.base) as client:
            ready = await client.get("/readyz")
    assert "call back" in refused_says(refused)
    assert ready.status_code == 503 and ready.json()["reason"] == "draining"
    assert b.vl.handshakes == []


def test_the_shipped_documents_load_and_match_the_built_in_fallbacks() -> None:
    docs = load_twiml(ROOT / "twiml")
    assert "call back" in docs.call_back_shortly and "busy" in docs.at_capacity
    missing = load_twiml(ROOT / "no-such-dir")
    assert missing.call_back_shortly == BUILT_IN[CALL_BACK_SHORTLY]
    assert missing.at_capacity == BUILT_IN[AT_CAPACITY]


async def test_ops_can_edit_a_document(tmp_path: Path) -> None:
    (tmp_path / AT_CAPACITY).write_text(
        "<Response><Say>Our lines are full. Try again at noon.</Say><Hangup/></Response>"
    )
    async with bridge(tmp_path, MAX_CONCURRENT_CALLS="1", TWIML_DIR=str(tmp_path)) as b:
        await b.answer("CA" + "1" * 32)
        # after its redirects through the ingress (tests/http/test_capacity.py)
        refused = await b.post("/twilio/voice?capacity_retry=2", voice_params("CA" + "2" * 32))
    assert refused_says(refused) == "Our lines are full. Try again at noon."


@pytest.mark.parametrize(
    ("content", "message"),
    [("<Response><Say>unclosed</Response>", "not well-formed"),
     ("<Hangup/>", "the root element must be <Response>")],
)  # fmt: skip
def test_a_broken_document_stops_start_up_naming_it(
    tmp_path: Path, content: str, message: str
) -> None:
    (tmp_path / CALL_BACK_SHORTLY).write_text(content)
    with pytest.raises(ConfigError, match=f"^TWIML_DIR: .*{CALL_BACK_SHORTLY}: {message}"):
        load_twiml(tmp_path)


def test_bot_serve_refuses_to_start_with_a_broken_document(tmp_path: Path) -> None:
    (tmp_path / AT_CAPACITY).write_text("<Response><Say>oops</Response>")
    env = {**os.environ, "DATA_DIR": str(tmp_path), "TWIML_DIR": str(tmp_path),
           "PORT": str(free_port())}  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "bot", "serve"], env=env, capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert f"configuration error: TWIML_DIR: {tmp_path / AT_CAPACITY}: not well-formed" in (
        done.stderr
    )
