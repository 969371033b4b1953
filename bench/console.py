"""The console's pages with 10,000 calls in PostgreSQL: server time per page (issue 17)."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx
import sqlalchemy as sa
from starlette.applications import Starlette

from bot.console.routes import console_routes
from bot.runtime import build_runtime
from bot.store import Store
from bot.store.tables import call_turns, calls
from tests.console.support import TOKEN, sign_in
from tests.support.server import make_settings

CALLS = 10_000
RUNS = 15
URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/bench_console"


async def _seed(store: Store) -> str:
    t0 = datetime.now(UTC) - timedelta(days=30)
    async with store.engine.begin() as conn:
        await conn.execute(sa.text("TRUNCATE calls CASCADE"))
        rows = []
        for i in range(CALLS):
            at = t0 + timedelta(minutes=4 * i)
            live = i >= CALLS - 20
            rows.append({
                "call_sid": f"CA{i:032d}", "direction": "outbound" if i % 3 else "inbound",
                "status": "in_progress" if live else "completed", "profile": f"p{i % 4}",
                "from_masked": "+1******0001", "to_masked": "+1******0002", "instance": "a",
                "started_at": at, "ended_at": None if live else at + timedelta(minutes=3),
                "duration_s": None if live else 180.0, "turns": 12, "barge_ins": 1,
                "response_ms": [600.0] * 12, "response_ms_p50": 600.0, "response_ms_p95": 900.0,
                "input_audio_tokens": 3000, "output_audio_tokens": 5000, "cost_usd": 0.4,
                "errors": [], "state": "bot_speaking" if live else None,
            })  # fmt: skip
        await conn.execute(sa.insert(calls), rows)
        sid = rows[CALLS - 100]["call_sid"]
        turns = [{"call_sid": sid, "seq": n, "speaker": "bot" if n % 2 else "caller",
                  "text": "words " * 20, "at": t0, "offset_ms": n * 7000.0, "interrupted": False}
                 for n in range(60)]  # fmt: skip
        await conn.execute(sa.insert(call_turns), turns)
        events = [{"kind": "speech", "who": "bot" if n % 2 else "caller",
                   "offset_ms": n * 7000.0, "duration_ms": 5000.0} for n in range(60)]  # fmt: skip
        await conn.execute(sa.update(calls).where(calls.c.call_sid == sid).values(events=events))
    return sid


async def _measure() -> list[tuple[str, float, float]]:
    url = os.environ.get("BENCH_DATABASE_URL", URL)
    with TemporaryDirectory() as tmp:
        store = await Store.open(url)
        try:
            sid = await _seed(store)
            app = Starlette(routes=console_routes())
            app.state.store = store
            settings = make_settings(tmp=Path(tmp), API_TOKEN=TOKEN)
            services = build_runtime(settings, None, store=store)  # type: ignore[arg-type]
            app.state.services = services
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://b") as client:
                await sign_in(client)
                month_ago = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()
                pages = ["/console/live", "/console/calls", "/console/calls?profile=p2",
                         f"/console/calls/{sid}", "/console/interviews",
                         "/console/usage?from=" + month_ago]  # fmt: skip
                out = []
                for page in pages:
                    times = []
                    for _ in range(RUNS):
                        start = time.perf_counter()
                        response = await client.get(page)
                        times.append((time.perf_counter() - start) * 1000)
                        assert response.status_code == 200, (page, response.status_code)
                    out.append((page, statistics.median(times), max(times)))
                return out
        finally:
            await store.close()


def run() -> str:
    rows = asyncio.run(_measure())
    lines = [
        "## Console pages",
        "",
        f"Server time per page (in-process ASGI, signed in) with {CALLS:,} calls in PostgreSQL, "
        f"{RUNS} requests each; the budget is 200 ms. Run alone: `python -m bench.console`.",
        "",
        "| page | median ms | max ms |",
        "|---|---:|---:|",
        *[f"| `{page}` | {median:.1f} | {worst:.1f} |" for page, median, worst in rows],
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(run())
