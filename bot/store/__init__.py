"""The call log: tables, migrations and async queries (SQLAlchemy Core) on SQLite or PostgreSQL."""

from __future__ import annotations

from bot.store.rows import CALL_STATUSES, percentile
from bot.store.store import Store, UnknownCall
from bot.store.url import database_url

__all__ = ["CALL_STATUSES", "Store", "UnknownCall", "database_url", "percentile"]
