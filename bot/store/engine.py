"""Opening the call log's database: one async engine (SQLite or PostgreSQL), migrated to head."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.store.migrate import upgrade
from bot.store.url import database_url

log = structlog.get_logger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 10_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


async def open_engine(url: str, *, connect_args: dict[str, Any] | None = None) -> AsyncEngine:
    """Connect (sqlite+aiosqlite:// or postgresql+asyncpg://) and migrate to head."""
    if not url.startswith(("sqlite+aiosqlite:", "postgresql+asyncpg:")):
        url = database_url(url, Path("."))
    options: dict[str, Any] = {"connect_args": dict(connect_args or {})}
    if url.startswith("postgresql"):
        options["pool_pre_ping"] = True
    engine = create_async_engine(url, **options)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    try:
        await upgrade(engine)
    except BaseException:
        await engine.dispose()
        raise
    log.info("store.opened", backend=engine.dialect.name)
    return engine
