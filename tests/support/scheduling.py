"""Helpers for scheduling tests: one fresh database (SQLite or PostgreSQL) opened by many
stores, a controllable clock, and interview fields."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.interview.schedule import RetryPolicy, validate
from bot.store import Store, database_url
from bot.store.interviews import InterviewStore

# Tuesday 2026-11-24 15:00 UTC = 10:00 in New York (inside the default 09:00-20:00 window)
T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
NY = "America/New_York"


class FakeClock:
    """A clock that moves only when the test says; sleeping just yields briefly."""

    def __init__(self, now: datetime = T0) -> None:
        self.t = now

    def now(self) -> datetime:
        return self.t

    def advance(self, **delta: float) -> None:
        self.t += timedelta(**delta)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0.002)


Opener = Callable[[], Awaitable[Store]]


@contextlib.asynccontextmanager
async def database(kind: str, tmp_path: Path) -> AsyncIterator[Opener]:
    """Yields open(): another Store on one fresh database (closed at the end). PostgreSQL gets
    its own schema (dropped afterwards), so concurrent test runs never meet."""
    opened: list[Store] = []
    if kind == "sqlite":
        url, connect_args = database_url(None, tmp_path), None
    else:
        raw = os.environ.get("TEST_DATABASE_URL") or None
        if raw is None:
            pytest.skip("TEST_DATABASE_URL is unset: PostgreSQL scheduling tests skipped")
        import asyncpg

        url = database_url(raw, tmp_path)
        plain = "postgresql://" + url.split("://", 1)[1]
        schema = f"test_{uuid.uuid4().hex[:12]}"
        admin = await asyncpg.connect(plain)
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        # application_name lets teardown end this test's own sessions, and only those
        connect_args = {"server_settings": {"search_path": schema, "application_name": schema}}

    async def open_store() -> Store:
        store = await Store.open(url, connect_args=connect_args)
        opened.append(store)
        return store

    try:
        yield open_store
    finally:
        for store in opened:
            await store.close()
        if kind != "sqlite":  # a session left in a transaction would block DROP forever
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = $1 AND pid <> pg_backend_pid()",
                schema,
            )
            await admin.execute("SET lock_timeout = '30s'")
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await admin.close()


def interviews_on(store: Store, clock: FakeClock, **policy: Any) -> InterviewStore:
    return InterviewStore(store.engine, RetryPolicy(**policy), now=clock.now)


def fields(**overrides: str) -> dict[str, Any]:
    """Validated fields for an interview at T0 in New York."""
    body = {
        "candidate_name": "Ada Lovelace",
        "phone": "+14155550142",
        "profile": "practice",
        "scheduled_at": T0.isoformat(),
        "timezone": NY,
        **overrides,
    }
    return validate(body)
