"""SharedState: what every replica must agree on for calls in flight (outcomes, used tokens)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.shared_tables import call_outcomes, stream_token_uses

log = structlog.get_logger(__name__)

OUTCOME_KEEP = timedelta(days=1)  # a <Connect action> request comes seconds after the stream
TOKEN_KEEP = timedelta(minutes=5)  # past a token's expiry: room for clocks that disagree


class SharedState:
    """Call outcomes and redeemed stream tokens, on the call log's engine."""

    def __init__(
        self, engine: AsyncEngine, now: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.engine = engine
        self.now = now

    async def record_outcome(self, call_sid: str, reason: str, instance: str | None) -> None:
        """Store how this call's stream ended (a second end of the same CallSid replaces it)."""
        row = {"call_sid": call_sid, "reason": reason, "ended_at": self.now(), "instance": instance}
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(call_outcomes).values(**row)
        stmt = stmt.on_conflict_do_update(
            index_elements=[call_outcomes.c.call_sid],
            set_={name: stmt.excluded[name] for name in ("reason", "ended_at", "instance")},
        )
        async with self.engine.begin() as conn:
            await conn.execute(stmt)

    async def outcome(self, call_sid: str) -> str | None:
        """How this call's stream ended, as any replica recorded it; None if unknown."""
        query = sa.select(call_outcomes.c.reason).where(call_outcomes.c.call_sid == call_sid)
        async with self.engine.connect() as conn:
            return await conn.scalar(query)

    async def redeem_token(
        self, call_sid: str, nonce: str, expires_at: datetime, instance: str | None = None
    ) -> bool:
        """Record a stream token's single use; False if any replica used it before."""
        row = {
            "call_sid": call_sid,
            "nonce": nonce,
            "expires_at": expires_at,
            "redeemed_at": self.now(),
            "instance": instance,
        }
        try:
            async with self.engine.begin() as conn:
                await conn.execute(sa.insert(stream_token_uses).values(**row))
        except IntegrityError:
            return False
        return True

    async def sweep(self) -> tuple[int, int]:
        """Forget outcomes older than a day and tokens past their expiry: (outcomes, tokens)."""
        now = self.now()
        async with self.engine.begin() as conn:
            outcomes = await conn.execute(
                sa.delete(call_outcomes).where(call_outcomes.c.ended_at < now - OUTCOME_KEEP)
            )
            expired = stream_token_uses.c.expires_at < now - TOKEN_KEEP
            tokens = await conn.execute(sa.delete(stream_token_uses).where(expired))
        return outcomes.rowcount, tokens.rowcount
