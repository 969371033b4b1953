"""Checks of this machine's side: the database (reachable, migrated) and the interview profiles."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.cli.doctor.report import Check, failed, passed
from bot.config import Settings
from bot.interview.profiles import Profile, ProfileError, load_profiles
from bot.store import database_url
from bot.store.migrate import alembic_config, current_revisions

DB_TIMEOUT_S = 10.0
MIGRATE_FIX = "start `bot serve` once: it applies the migrations at start-up"


async def check_database(settings: Settings) -> Check:
    """Connect (read-only: no migration), `SELECT 1`, compare the revision with the code's."""
    name = "database"
    try:
        url = database_url(settings.database_url, settings.data_dir)
    except ValueError as exc:
        return failed(name, str(exc), "set DATABASE_URL to a sqlite:/// or postgresql:// URL")
    shown = make_url(url).render_as_string(hide_password=True)
    sqlite = url.startswith("sqlite")
    if sqlite:
        path = make_url(url).database or ""
        if path and path != ":memory:" and not await asyncio.to_thread(Path(path).is_file):
            return failed(name, f"no database file at {path}", MIGRATE_FIX)
    engine = create_async_engine(url, connect_args={} if sqlite else {"timeout": DB_TIMEOUT_S})
    try:
        async with asyncio.timeout(DB_TIMEOUT_S), engine.connect() as connection:
            await connection.execute(sa.text("SELECT 1"))
            current = await connection.run_sync(current_revisions) or set()
    except TimeoutError:
        return failed(
            name,
            f"{shown} did not answer within {DB_TIMEOUT_S:g} s",
            "check DATABASE_URL's host, the firewall, and that the server runs",
        )
    except Exception as exc:  # drivers raise many types; all mean "not reachable"
        return failed(
            name,
            f"{shown} unreachable: {type(exc).__name__}: {str(exc)[:200]}",
            "check DATABASE_URL (host, database, user, password, ?sslmode=require on Azure)",
        )
    finally:
        await engine.dispose()
    from alembic.script import ScriptDirectory

    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    if current != heads:
        have = ", ".join(sorted(current)) or "no migrations"
        return failed(
            name, f"{shown} reachable, at {have}; this code needs {', '.join(sorted(heads))}",
            MIGRATE_FIX,
        )  # fmt: skip
    return passed(name, f"{shown} reachable, migrated ({', '.join(sorted(heads))})")


def check_profiles(settings: Settings) -> tuple[Check, dict[str, Profile] | None]:
    """Every profile in PROFILES_DIR loads, and DEFAULT_PROFILE is one of them."""
    try:
        profiles = load_profiles(settings.profiles_dir, settings.default_profile)
    except ProfileError as exc:
        return failed("profiles", str(exc), "correct the file named (see README, profiles)"), None
    names = ", ".join(sorted(profiles))
    where = settings.profiles_dir
    detail = f"{len(profiles)} in {where} ({names}); default {settings.default_profile}"
    return passed("profiles", detail), profiles
