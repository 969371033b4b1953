"""Helpers for replica tests: one fresh PostgreSQL database that bot subprocesses can share,
and streams opened on any replica."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.fakes.twilio_media import FakeTwilioCall
from tests.support.bridge import Bridge
from tests.support.server import AUTH_TOKEN


@contextlib.asynccontextmanager
async def shared_postgres() -> AsyncIterator[str]:
    """A DATABASE_URL of its own on TEST_DATABASE_URL's server, for any number of processes:
    a fresh login role whose same-named schema is first on its search_path ("$user"); the
    role's sessions are ended and both dropped afterwards."""
    raw = os.environ.get("TEST_DATABASE_URL") or None
    if raw is None:
        pytest.skip("TEST_DATABASE_URL is unset: tests of replicas on PostgreSQL skipped")
    import asyncpg

    role = f"test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(raw)
    await admin.execute(f'CREATE ROLE "{role}" LOGIN')
    await admin.execute(f'CREATE SCHEMA "{role}" AUTHORIZATION "{role}"')
    split = urlsplit(raw)
    host = split.netloc.rpartition("@")[2]
    try:
        yield urlunsplit(split._replace(netloc=f"{role}@{host}"))
    finally:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE usename = $1 AND pid <> pg_backend_pid()",
            role,
        )
        await admin.execute("SET lock_timeout = '30s'")
        await admin.execute(f'DROP SCHEMA "{role}" CASCADE')
        await admin.execute(f'DROP ROLE "{role}"')
        await admin.close()


async def open_stream(replica: Bridge, call_sid: str, params: dict[str, str]) -> FakeTwilioCall:
    """Twilio opening the media stream of call_sid on this replica, with these parameters."""
    call = FakeTwilioCall(replica.ws_url(), AUTH_TOKEN, call_sid=call_sid, custom_parameters=params)
    call.signature_url = replica.settings.stream_url
    await call.connect()
    await call.start()
    return call
