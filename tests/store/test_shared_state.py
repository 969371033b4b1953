"""What replicas share, on SQLite and (with TEST_DATABASE_URL) PostgreSQL: call outcomes,
stream token uses, their sweep, and stuck interviews resolved once by concurrent sweepers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.call.outcomes import Outcomes
from bot.store import Store
from bot.store.interview_tables import interview_attempts
from bot.store.interviews import InterviewStore
from bot.store.shared import SharedState
from bot.twilio.signing import StreamTokens, TokenError
from tests.support.scheduling import FakeClock, database, fields, interviews_on

SID = "CA" + "1" * 32


@pytest.fixture(params=["sqlite", "postgresql"])
async def two(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple]:
    """Two stores (as two replicas would open) on one fresh database."""
    async with database(request.param, tmp_path) as open_store:
        yield await open_store(), await open_store()


async def test_an_outcome_recorded_by_one_replica_is_read_by_the_other(two: tuple) -> None:
    a, b = (SharedState(s.engine) for s in two)
    assert await b.outcome(SID) is None
    await a.record_outcome(SID, "engine_unavailable", "replica-a")
    assert await b.outcome(SID) == "engine_unavailable"
    await a.record_outcome(SID, "twilio_closed", "replica-a")  # a second end replaces it
    assert await b.outcome(SID) == "twilio_closed"
    here, there = Outcomes(shared=a), Outcomes(shared=b)
    await here.record("CA" + "2" * 32, "error", "replica-a")
    assert await there.take("CA" + "2" * 32) == "error"


async def test_a_token_redeemed_on_one_replica_is_refused_on_the_other(two: tuple) -> None:
    a, b = (StreamTokens("secret", ledger=SharedState(s.engine).redeem_token) for s in two)
    token = a.mint(SID)
    await b.redeem(token, SID)  # minted on A, first used on B: fine
    for replica in (a, b):
        with pytest.raises(TokenError, match="already used"):
            await replica.redeem(token, SID)
    again = b.mint(SID)  # another token for the same call is another token
    await a.redeem(again, SID)


async def test_outcomes_and_tokens_are_swept(two: tuple) -> None:
    store = two[0]
    now = datetime.now(UTC)
    old = SharedState(store.engine, now=lambda: now - timedelta(days=1, minutes=1))
    await old.record_outcome("CA" + "3" * 32, "error", None)
    shared = SharedState(store.engine, now=lambda: now)
    await shared.record_outcome(SID, "error", None)
    assert await shared.redeem_token(SID, "a" * 16, now - timedelta(minutes=6))
    assert await shared.redeem_token(SID, "b" * 16, now + timedelta(seconds=30))
    assert await shared.sweep() == (1, 1)
    assert await shared.outcome("CA" + "3" * 32) is None and await shared.outcome(SID) == "error"
    assert not await shared.redeem_token(SID, "b" * 16, now + timedelta(seconds=30))


class DatabaseDown:
    """A SharedState whose database refuses every query."""

    async def record_outcome(self, *_: Any) -> None:
        raise ConnectionRefusedError("database down")

    async def outcome(self, _sid: str) -> str | None:
        raise ConnectionRefusedError("database down")

    async def redeem_token(self, *_: Any) -> bool:
        raise ConnectionRefusedError("database down")


async def test_with_the_database_down_each_replica_falls_back_to_what_it_knows() -> None:
    outcomes = Outcomes(shared=DatabaseDown())
    await outcomes.record(SID, "engine_unavailable", "replica-a")
    assert await outcomes.take(SID) == "engine_unavailable"
    assert await outcomes.take("CA" + "4" * 32) is None  # unknown anywhere: no apology
    tokens = StreamTokens("secret", ledger=DatabaseDown().redeem_token)
    token = tokens.mint(SID)
    await tokens.redeem(token, SID)  # HMAC and expiry still checked; single use locally
    with pytest.raises(TokenError, match="already used"):
        await tokens.redeem(token, SID)


async def test_two_streams_with_one_token_at_once_only_one_is_taken_while_the_ledger_fails() -> (
    None
):
    """Both arrive while the ledger is being asked (and fails): this replica's memory, taken
    before the ledger is asked, refuses the second."""

    async def slow_and_down(call_sid: str, nonce: str, at: datetime) -> bool:
        await asyncio.sleep(0.05)
        raise ConnectionRefusedError("database down")

    tokens = StreamTokens("secret", ledger=slow_and_down)
    token = tokens.mint(SID)
    results = await asyncio.gather(
        tokens.redeem(token, SID), tokens.redeem(token, SID), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, TokenError)]
    assert len(refused) == 1 and "already used" in str(refused[0])
    assert results.count(None) == 1


async def _stuck(store: Store, ivs: InterviewStore, clock: FakeClock, n: int) -> str:
    """An interview in progress whose call's replica died (interrupted a while ago)."""
    created = await ivs.create(fields(phone=f"+1415555015{n}"))
    [claim] = await ivs.claim_due("test", 1)
    sid = f"CA{n:032d}"
    await ivs.dialed(claim, sid)
    assert (await ivs.voice_answer(created["id"], claim.seq, "human", False))[0] == "connect"
    await store.call_started(
        call_sid=sid, direction="outbound", started_at=clock.now(), from_masked=None,
        to_masked=None, instance="dead", interview_id=created["id"],
    )  # fmt: skip
    await store.call_ended(sid, status="interrupted", end_reason="interrupted",
                           ended_at=clock.now())  # fmt: skip
    return created["id"]


async def test_concurrent_sweepers_resolve_each_stuck_interview_once(two: tuple) -> None:
    clock = FakeClock()
    ivs = [interviews_on(store, clock, max_attempts=3, backoff_s=600) for store in two]
    ids = [await _stuck(two[0], ivs[0], clock, n) for n in range(4)]
    assert await ivs[1].resolve_stuck(300, "b") == 0  # the call just ended: Twilio may report
    clock.advance(minutes=6)
    moved = await asyncio.gather(*(iv.resolve_stuck(300, name) for iv, name in zip(
        ivs * 3, "abcdef", strict=True)))  # fmt: skip
    assert sum(moved) == len(ids)
    for interview_id in ids:
        got = await ivs[0].get(interview_id)
        assert got is not None and got["status"] == "retrying"
        assert got["next_attempt_at"] is not None
        [attempt] = got["attempts"]
        assert attempt["outcome"] == "dropped"  # the replica died: resumable (issue 14.4)
    assert await ivs[0].resolve_stuck(300, "a") == 0


async def test_the_sweeper_completes_a_completed_call_and_leaves_live_ones(two: tuple) -> None:
    store = two[0]
    clock = FakeClock()
    ivs = interviews_on(store, clock, max_attempts=3, backoff_s=600)
    done, live = [await _stuck(store, ivs, clock, n) for n in range(2)]
    await store.call_ended(f"CA{0:032d}", status="completed", end_reason="ended",
                           ended_at=clock.now())  # fmt: skip
    await store.call_updated(f"CA{1:032d}", status="in_progress", ended_at=None)
    clock.advance(minutes=10)
    assert await ivs.resolve_stuck(300, "a") == 1
    assert (await ivs.get(done) or {})["status"] == "completed"
    assert (await ivs.get(live) or {})["status"] == "in_progress"
    async with store.engine.connect() as conn:
        outcomes = (await conn.execute(sa.select(interview_attempts.c.outcome))).scalars().all()
    assert sorted(outcomes) == ["completed", "queued"]  # the live one untouched
