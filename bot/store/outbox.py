"""The outbox's delivery side: claims with a lease (one replica per event), results, pages."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.outbox_events import EVENT_TYPES
from bot.store.outbox_tables import STATUSES, webhook_outbox
from bot.store.rows import decode_cursor, encode_cursor, iso

MAX_HISTORY = 50  # attempts kept per event (the first ones are dropped past it)


@dataclass(frozen=True)
class Claimed:
    """One event claimed for delivery until its lease ends; settled with its claim token."""

    id: str
    type: str
    claim: str
    payload: dict[str, Any]
    attempts: int  # before this one
    created_at: datetime


class Outbox:
    """The webhook_outbox table on the call log's engine."""

    def __init__(self, engine: AsyncEngine, now: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.now = now or (lambda: datetime.now(UTC))
        self.pg = engine.dialect.name == "postgresql"

    async def claim(self, instance: str, limit: int, lease_s: float) -> list[Claimed]:
        """Claim up to `limit` due events: each is not due again until its lease ends (a
        replica that dies holding it leaves it to the next claim after that)."""
        now = self.now()
        due = sa.and_(webhook_outbox.c.status == "pending", webhook_outbox.c.next_attempt_at <= now)
        query = sa.select(webhook_outbox).where(due).order_by(webhook_outbox.c.next_attempt_at)
        lease = now + timedelta(seconds=lease_s)
        claimed: list[Claimed] = []
        if self.pg:  # row locks: concurrent claimers skip each other's rows
            async with self.engine.begin() as conn:
                locked = query.limit(limit).with_for_update(skip_locked=True)
                for row in (await conn.execute(locked)).mappings().all():
                    claimed += await self._take(conn, row, due, lease, instance)
            return claimed
        async with self.engine.connect() as conn:  # SQLite: read, then a conditional UPDATE
            rows = (await conn.execute(query.limit(limit * 4))).mappings().all()
        for row in rows:
            if len(claimed) >= limit:
                break
            async with self.engine.begin() as conn:
                claimed += await self._take(conn, row, due, lease, instance)
        return claimed

    async def _take(
        self, conn: Any, row: RowMapping, due: Any, lease: datetime, instance: str
    ) -> list[Claimed]:
        token = secrets.token_hex(8)
        won = await conn.execute(
            sa.update(webhook_outbox)
            .where(webhook_outbox.c.id == row["id"], due)
            .values(claim=token, claimed_by=instance, next_attempt_at=lease)
        )
        if won.rowcount != 1:
            return []  # another replica took it first
        return [Claimed(row["id"], row["type"], token, dict(row["payload"]), row["attempts"],
                        row["created_at"])]  # fmt: skip

    async def settle(
        self,
        item: Claimed,
        *,
        outcome: str,
        http_status: int | None,
        error: str | None,
        retry_at: datetime | None = None,
    ) -> bool:
        """Record one attempt: `delivered`, `retry` (due again at retry_at) or `failed`.
        False if the claim was lost (its lease ended and another replica took the event)."""
        now = self.now()
        entry = {"at": iso(now), "status": http_status, "error": error, "outcome": outcome}
        values: dict[str, Any] = {
            "attempts": webhook_outbox.c.attempts + 1,
            "last_status": http_status,
            "last_error": None if error is None else error[:500],
            "claim": None,
        }
        if outcome == "retry":
            values.update(status="pending", next_attempt_at=retry_at or now)
        else:
            values.update(status=outcome, next_attempt_at=None, finished_at=now)
            if outcome == "delivered":
                values["delivered_at"] = now
        mine = (webhook_outbox.c.id == item.id, webhook_outbox.c.claim == item.claim)
        async with self.engine.begin() as conn:
            history = await conn.scalar(sa.select(webhook_outbox.c.history).where(*mine))
            if history is None:
                return False
            values["history"] = [*history, entry][-MAX_HISTORY:]
            done = await conn.execute(sa.update(webhook_outbox).where(*mine).values(**values))
        return done.rowcount == 1

    async def backlog(self) -> int:
        """Events not yet delivered nor failed."""
        query = sa.select(sa.func.count()).where(webhook_outbox.c.status == "pending")
        async with self.engine.connect() as conn:
            return int(await conn.scalar(query) or 0)

    async def list(
        self,
        *,
        status: str | None = None,
        kind: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Events newest first, and the cursor of the next page (None on the last page)."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"status: must be one of {', '.join(STATUSES)}")
        if kind is not None and kind not in EVENT_TYPES:
            raise ValueError(f"type: must be one of {', '.join(EVENT_TYPES)}")
        t = webhook_outbox.c
        query = sa.select(webhook_outbox)
        if status is not None:
            query = query.where(t.status == status)
        if kind is not None:
            query = query.where(t.type == kind)
        if since is not None:
            query = query.where(t.created_at >= since)
        if cursor is not None:
            at, event_id = decode_cursor(cursor)
            query = query.where(
                sa.or_(t.created_at < at, sa.and_(t.created_at == at, t.id < event_id))
            )
        query = query.order_by(t.created_at.desc(), t.id.desc()).limit(limit + 1)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        page = rows[:limit]
        following = None
        if len(rows) > limit:
            following = encode_cursor(page[-1]["created_at"], page[-1]["id"])
        return [delivery_json(r) for r in page], following


def delivery_json(row: RowMapping) -> dict[str, Any]:
    """An outbox row as the API's JSON: the event's state, not its body (personal data)."""
    return {
        "id": row["id"],
        "type": row["type"],
        "subject": row["subject"],
        "status": row["status"],
        "created_at": iso(row["created_at"]),
        "attempts": row["attempts"],
        "next_attempt_at": iso(row["next_attempt_at"]) if row["status"] == "pending" else None,
        "last_status": row["last_status"],
        "last_error": row["last_error"],
        "delivered_at": iso(row["delivered_at"]),
        "finished_at": iso(row["finished_at"]),
        "claimed_by": row["claimed_by"],
        "history": list(row["history"] or []),
    }
