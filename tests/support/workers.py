"""Parallel runs (pytest-xdist): each worker gets a PostgreSQL database of its own on
TEST_DATABASE_URL's server, created when the worker starts and dropped when it ends."""

from __future__ import annotations

import asyncio
import os
import re
from urllib.parse import urlsplit

import pytest


def worker_database_name(url: str, worker: str, run: str) -> str:
    """`test_gw0_1a2b3c4d` for database `test`, worker gw0 and run 1a2b3c4d...: unique per run,
    so two runs against one server (or a run and a crashed run's leftovers) never meet."""
    base = urlsplit(url).path.lstrip("/") or "test"
    name = re.sub(r"[^a-z0-9_]", "_", f"{base}_{worker}_{run[:8]}".lower())
    return name[:63]  # PostgreSQL's limit on identifiers


def with_database(url: str, name: str) -> str:
    return urlsplit(url)._replace(path=f"/{name}").geturl()


async def _admin(url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def give_worker_its_database(config: pytest.Config) -> None:
    """In an xdist worker with TEST_DATABASE_URL set: point TEST_DATABASE_URL (read by every
    PostgreSQL test, and inherited by `bot serve` subprocesses) at a fresh database of the
    worker's own; drop it (ending any session left on it) when the worker ends."""
    workerinput = getattr(config, "workerinput", None)
    url = os.environ.get("TEST_DATABASE_URL")
    if workerinput is None or not url:
        return
    name = worker_database_name(url, workerinput["workerid"], workerinput["testrunuid"])
    asyncio.run(_admin(url, f'CREATE DATABASE "{name}"'))
    os.environ["TEST_DATABASE_URL"] = with_database(url, name)

    def drop() -> None:
        os.environ["TEST_DATABASE_URL"] = url
        asyncio.run(_admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    config.add_cleanup(drop)
