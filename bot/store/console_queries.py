"""Reads for the console: calls in progress on every replica, and usage per day and profile."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cost import USAGE_FIELDS
from bot.store.rows import iso
from bot.store.tables import calls

MAX_LIVE = 500


async def live_calls(engine: AsyncEngine, limit: int = MAX_LIVE) -> list[dict[str, Any]]:
    """Calls in progress (any replica), oldest first: masked numbers, profile, state."""
    query = (
        sa.select(
            calls.c.call_sid, calls.c.direction, calls.c.profile, calls.c.from_masked,
            calls.c.to_masked, calls.c.started_at, calls.c.state, calls.c.instance,
            calls.c.heartbeat_at, calls.c.turns, calls.c.barge_ins,
        )
        .where(calls.c.status == "in_progress")
        .order_by(calls.c.started_at)
        .limit(limit)
    )  # fmt: skip
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    return [
        {
            **{k: row[k] for k in ("call_sid", "direction", "profile", "state", "instance")},
            "candidate": row["to_masked"] if row["direction"] != "inbound" else row["from_masked"],
            "started_at": iso(row["started_at"]),
            "heartbeat_at": iso(row["heartbeat_at"]),
            "turns": row["turns"],
            "barge_ins": row["barge_ins"],
        }
        for row in rows
    ]


def _day(engine: AsyncEngine) -> sa.ColumnElement[Any]:
    if engine.dialect.name == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", calls.c.started_at), "YYYY-MM-DD")
    return sa.func.strftime("%Y-%m-%d", calls.c.started_at)


async def usage(engine: AsyncEngine, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Per UTC day and profile in [since, until): calls, seconds, tokens and cost."""
    day = _day(engine).label("day")
    profile = sa.func.coalesce(calls.c.profile, "").label("profile")
    tokens = sum((calls.c[name] for name in USAGE_FIELDS), sa.literal(0))
    query = (
        sa.select(
            day,
            profile,
            sa.func.count().label("calls"),
            sa.func.coalesce(sa.func.sum(calls.c.duration_s), 0.0).label("seconds"),
            sa.func.coalesce(sa.func.sum(tokens), 0).label("tokens"),
            sa.func.coalesce(sa.func.sum(calls.c.cost_usd), 0.0).label("cost_usd"),
        )
        .where(calls.c.started_at >= since, calls.c.started_at < until)
        .group_by(day, profile)
        .order_by(day, profile)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    return [
        {
            "day": row["day"],
            "profile": row["profile"] or "(none)",
            "calls": int(row["calls"]),
            "minutes": round(float(row["seconds"]) / 60, 2),
            "tokens": int(row["tokens"]),
            "cost_usd": round(float(row["cost_usd"]), 4),
        }
        for row in rows
    ]
