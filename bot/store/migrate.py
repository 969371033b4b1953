"""Alembic `upgrade head` run in code (no alembic.ini) on an async engine, only when needed.

A database already at the head revision is recognised without importing Alembic (~10 MB of
the process's memory): the heads are read from the migration files' `revision` and
`down_revision` lines, the database's from `alembic_version` with plain SQL. Anything else
(a fresh database, an older one, a file that does not parse) runs Alembic as before.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
PG_LOCK_KEY = 0x0B07CA11  # advisory lock: replicas starting together migrate one at a time
VERSION_TABLE = "alembic_version"

_REVISION = re.compile(r"""^revision\s*(?::[^=]*)?=\s*["']([^"']+)["']""", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision\s*(?::[^=]*)?=(.*)$", re.MULTILINE)
_QUOTED = re.compile(r"""["']([^"']+)["']""")


def alembic_config() -> Config:
    """An Alembic config pointing at the migrations shipped inside this package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@functools.cache
def head_revisions() -> frozenset[str] | None:
    """The head revisions (revisions no other one revises), read from the migration files
    without importing Alembic; None when a file has no plain `revision = "…"` and
    `down_revision = …` line (Alembic then decides)."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        if path.name.startswith("_"):
            continue
        text = path.read_text(encoding="utf-8")
        revision, down = _REVISION.search(text), _DOWN_REVISION.search(text)
        if revision is None or down is None:
            return None
        revisions.add(revision.group(1))
        revised.update(_QUOTED.findall(down.group(1)))  # None, "0011" or a merge's tuple
    return frozenset(revisions - revised) or None


def current_revisions(connection: sa.Connection) -> set[str] | None:
    """The database's revisions (alembic_version's rows); None without that table."""
    if not sa.inspect(connection).has_table(VERSION_TABLE):
        return None
    rows = connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}"))
    return {row[0] for row in rows}


async def at_head(engine: AsyncEngine) -> bool:
    """True when the database is at this code's head revision(s): nothing to migrate."""
    heads = head_revisions()
    if heads is None:
        return False
    async with engine.connect() as connection:  # read only; rolled back on leaving
        current = await connection.run_sync(current_revisions)
    return current == heads


def _upgrade(connection: sa.Connection, revision: str) -> None:
    from alembic import command

    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply migrations up to revision, in one transaction (under PostgreSQL's advisory lock,
    so replicas starting together migrate one at a time). At head already, Alembic is not
    imported."""
    if revision == "head" and await at_head(engine):
        return
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade, revision)
