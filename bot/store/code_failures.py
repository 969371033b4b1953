"""Wrong interview codes in the last hour, by keyed caller hash, shared by every replica."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.tables import UTCDateTime, metadata

WINDOW = timedelta(hours=1)
SWEEP_EVERY = timedelta(minutes=1)  # rows older than the window go at most this often

code_failures = sa.Table(
    "code_failures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("caller_hash", sa.String(64), nullable=False),  # HMAC-SHA256 hex of the number
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Index("ix_code_failures_caller_at", "caller_hash", "at"),
    sa.Index("ix_code_failures_at", "at"),
)


def _now() -> datetime:
    return datetime.now(UTC)


class CodeFailures:
    """The code_failures table: count a caller's and everyone's failures, add one, sweep."""

    def __init__(self, engine: AsyncEngine, now: Callable[[], datetime] = _now) -> None:
        self.engine = engine
        self.now = now
        self._swept_at: datetime | None = None

    async def counts(self, caller_hash: str) -> tuple[int, int]:
        """(this caller's failures, all callers' failures) within the last hour."""
        since = self.now() - WINDOW
        recent = code_failures.c.at >= since
        mine = sa.func.count().filter(code_failures.c.caller_hash == caller_hash)
        query = sa.select(mine, sa.func.count()).where(recent)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).one()
        return int(row[0]), int(row[1])

    async def add(self, caller_hash: str) -> None:
        """Record one wrong code now (and sweep old rows, at most once a minute)."""
        now = self.now()
        async with self.engine.begin() as conn:
            await conn.execute(code_failures.insert().values(caller_hash=caller_hash, at=now))
            if self._swept_at is None or now - self._swept_at >= SWEEP_EVERY:
                self._swept_at = now
                await conn.execute(code_failures.delete().where(code_failures.c.at < now - WINDOW))
