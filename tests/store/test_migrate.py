"""Migrations run at start only when needed: a database at head opens without importing Alembic."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from bot.store import Store, database_url, migrate

# Opens the store at argv[1] (migrating as `bot serve` does) and prints whether Alembic came in.
OPEN_AND_REPORT = """
import asyncio, json, sys
from bot.store import Store

async def main():
    store = await Store.open(sys.argv[1])
    await store.close()

asyncio.run(main())
print(json.dumps({"alembic": "alembic" in sys.modules}))
"""


def _opened_with_alembic(url: str) -> bool:
    """Open the store in a fresh interpreter (this one has Alembic imported already)."""
    done = subprocess.run(
        [sys.executable, "-c", OPEN_AND_REPORT, url],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return bool(json.loads(done.stdout.strip().splitlines()[-1])["alembic"])


async def _version(url: str, **connect_args: object) -> set[str]:
    engine = create_async_engine(url, connect_args=connect_args)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(sa.text("SELECT version_num FROM alembic_version"))
            return {row[0] for row in rows}
    finally:
        await engine.dispose()


def alembic_heads() -> set[str]:
    return set(ScriptDirectory.from_config(migrate.alembic_config()).get_heads())


def test_head_revisions_match_alembic() -> None:
    assert migrate.head_revisions() == alembic_heads()


def test_head_revisions_parse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "__init__.py").write_text("")
    (versions / "a.py").write_text('revision = "a"\ndown_revision = None\n')
    (versions / "b.py").write_text('revision = "b"\ndown_revision = "a"\n')
    (versions / "c.py").write_text("revision: str = 'c'\ndown_revision: str | None = 'a'\n")
    (versions / "m.py").write_text('revision = "m"\ndown_revision = ("b", "c")\n')
    (versions / "d.py").write_text('revision = "d"\ndown_revision = "b"\n')
    monkeypatch.setattr(migrate, "MIGRATIONS", tmp_path)
    migrate.head_revisions.cache_clear()
    try:
        assert migrate.head_revisions() == {"m", "d"}
        (versions / "e.py").write_text("revision = compute()\ndown_revision = 'd'\n")
        migrate.head_revisions.cache_clear()
        assert migrate.head_revisions() is None  # Alembic decides
    finally:
        migrate.head_revisions.cache_clear()


def test_database_at_head_opens_without_alembic(tmp_path: Path) -> None:
    url = database_url(None, tmp_path)
    assert _opened_with_alembic(url)  # fresh: migrated by Alembic
    assert asyncio.run(_version(url)) == alembic_heads()
    assert not _opened_with_alembic(url)  # at head: plain SQL said so


async def test_older_database_is_migrated(tmp_path: Path) -> None:
    url = database_url(None, tmp_path)
    engine = create_async_engine(url)
    await migrate.upgrade(engine, "0011")
    assert not await migrate.at_head(engine)
    await engine.dispose()
    assert await _version(url) == {"0011"}
    store = await Store.open(url)
    await store.close()
    assert await _version(url) == alembic_heads()


@pytest.fixture
async def pg_schema(tmp_path: Path) -> AsyncIterator[tuple[str, dict[str, object]]]:
    """A fresh PostgreSQL schema (dropped afterwards): the URL and the connect_args using it."""
    raw = os.environ.get("TEST_DATABASE_URL")
    if not raw:
        pytest.skip("TEST_DATABASE_URL is unset: PostgreSQL migration tests skipped")
    import asyncpg

    url = database_url(raw, tmp_path)
    admin = await asyncpg.connect("postgresql://" + url.split("://", 1)[1])
    schema = f"test_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield url, {"server_settings": {"search_path": schema}}
    finally:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


async def test_postgresql_replicas_starting_together(
    pg_schema: tuple[str, dict[str, object]],
) -> None:
    url, connect_args = pg_schema
    engine = create_async_engine(url, connect_args=connect_args)
    try:
        assert not await migrate.at_head(engine)  # no alembic_version in this schema yet
        await migrate.upgrade(engine, "0010")
        assert not await migrate.at_head(engine)
    finally:
        await engine.dispose()
    # Three replicas at once on an older schema: the advisory lock lets one migrate at a time.
    stores = await asyncio.gather(*(Store.open(url, connect_args=connect_args) for _ in range(3)))
    for store in stores:
        assert await migrate.at_head(store.engine)
        await store.close()
    assert await _version(url, **connect_args) == alembic_heads()
