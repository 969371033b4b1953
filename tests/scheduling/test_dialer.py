"""The dialer against the fake Twilio REST API, on SQLite and (with TEST_DATABASE_URL)
PostgreSQL: two dialers never dial an interview twice, a crash never causes a second dial,
the calls-per-second limit holds, and draining stops new claims."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.scheduling.dialer import Dialer, DialerConfig, SystemClock
from bot.store.interview_tables import interview_attempts
from bot.store.interviews import Claim, InterviewStore
from bot.twilio.rest import TwilioRest
from tests.fakes.twilio_rest import FakeTwilioRest
from tests.support import ACCOUNT_SID, AUTH_TOKEN
from tests.support.scheduling import T0, FakeClock, Opener, database, fields, interviews_on

FROM = "+15005550006"
KINDS = ["sqlite", "postgresql"]


@pytest.fixture(params=KINDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    async with database(request.param, tmp_path) as open_store:
        yield open_store


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilioRest]:
    async with FakeTwilioRest(ACCOUNT_SID, AUTH_TOKEN, verified_from={FROM}) as server:
        yield server


def dialer(
    ivs: InterviewStore, fake: FakeTwilioRest, name: str, clock: object, **config: float
) -> Dialer:
    rest = TwilioRest(ACCOUNT_SID, AUTH_TOKEN, fake.url, timeout_s=5)
    settings = {"calls_per_second": 1000.0, "poll_s": 0.01, **config}
    return Dialer(
        ivs,
        rest,
        DialerConfig("http://127.0.0.1:9", FROM, **settings),  # type: ignore[arg-type]
        instance=name,
        clock=clock,
    )  # type: ignore[arg-type]


async def until(predicate: Callable[[], object], within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not await predicate():  # type: ignore[misc]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def outcomes(ivs: InterviewStore) -> list[str]:
    async with ivs.engine.connect() as conn:
        query = sa.select(interview_attempts.c.outcome).order_by(interview_attempts.c.id)
        return list((await conn.execute(query)).scalars())


async def test_two_dialers_200_due_interviews_each_dialed_exactly_once(
    db: Opener, fake: FakeTwilioRest
) -> None:
    clock = FakeClock()
    first, second = await db(), await db()
    ivs_a, ivs_b = interviews_on(first, clock), interviews_on(second, clock)
    ids = {(await ivs_a.create(fields(phone=f"+1415555{n:04d}")))["id"] for n in range(200)}
    dialers = [dialer(ivs_a, fake, "a", clock), dialer(ivs_b, fake, "b", clock)]
    began = time.monotonic()
    for d in dialers:
        d.start()

    async def all_queued() -> bool:
        return (await outcomes(ivs_a)).count("queued") >= 200

    try:
        await until(all_queued)
        await asyncio.sleep(0.3)  # any late double dial would show now
    finally:
        for d in dialers:
            await d.stop()
    elapsed = time.monotonic() - began
    per_interview = fake.creates_per_interview()
    assert set(per_interview) == ids
    assert sorted(set(per_interview.values())) == [1], "an interview was dialed twice"
    assert len(fake.calls) == 200 == sum(d.dials for d in dialers)
    assert len({c.to for c in fake.calls}) == 200
    assert await outcomes(ivs_a) == ["queued"] * 200  # one attempt each
    listed = await ivs_b.list(limit=1000)
    assert {i["status"] for i in listed} == {"dialing"}
    print(
        f"\n200 interviews, 2 dialers ({first.engine.dialect.name}): {elapsed:.2f}s, "
        f"split {dialers[0].dials}/{dialers[1].dials}, double dials 0"
    )


async def test_killed_between_claim_and_dial_no_double_dial(
    db: Opener, fake: FakeTwilioRest
) -> None:
    clock = FakeClock()
    ivs = interviews_on(await db(), clock)
    iv = await ivs.create(fields())
    claimed = asyncio.Event()

    async def die_before_dialing(_claim: Claim) -> None:
        claimed.set()
        await asyncio.Event().wait()  # never returns: the replica is killed here

    doomed = dialer(ivs, fake, "doomed", clock)
    doomed.before_dial = die_before_dialing
    doomed.start()
    await asyncio.wait_for(claimed.wait(), 10)
    await doomed.stop(timeout_s=0.05)
    assert await outcomes(ivs) == ["dialing"]

    restarted = dialer(interviews_on(await db(), clock), fake, "restarted", clock, recovery_s=300)
    restarted.start()
    try:
        await asyncio.sleep(0.3)
        assert fake.calls == []  # a fresh claim is not yet known to be unplaced
        clock.advance(seconds=301)

        async def dialed() -> bool:
            return len(fake.calls) >= 1 and "queued" in await outcomes(ivs)

        await until(dialed, 10)
        await asyncio.sleep(0.3)
    finally:
        await restarted.stop()
    assert len(fake.calls) == 1
    assert await outcomes(ivs) == ["not_placed", "queued"]
    got = await ivs.get(iv["id"])
    assert got is not None and got["attempts_used"] == 1  # the unplaced claim cost nothing


async def test_calls_per_second_and_draining(db: Opener, fake: FakeTwilioRest) -> None:
    ivs = interviews_on(await db(), FakeClock(T0 - timedelta(days=1)))
    for n in range(6):
        await ivs.create(
            fields(phone=f"+1415555{n:04d}", window_start="00:00", window_end="23:59")
        )  # due at any (real) hour
    ivs.now = SystemClock().now  # the interviews are long due by the real clock
    draining = True
    d = dialer(ivs, fake, "paced", SystemClock(), calls_per_second=5)
    d.paused = lambda: draining
    d.start()
    try:
        await asyncio.sleep(0.5)
        assert fake.calls == [] and await outcomes(ivs) == []  # draining: nothing claimed
        draining = False

        async def six() -> bool:
            return len(fake.calls) >= 6

        await until(six, 20)
    finally:
        await d.stop()
    created = sorted(c.created_at for c in fake.calls)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(created)]
    assert (created[-1] - created[0]).total_seconds() >= 0.95  # 6 calls at 5/s: 1 s at least
    assert min(gaps) >= 0.15, gaps


async def test_an_account_error_pauses_the_dialer_instead_of_failing_every_interview(
    db: Opener, fake: FakeTwilioRest
) -> None:
    ivs = interviews_on(await db(), FakeClock(T0 - timedelta(days=1)))
    anytime = {"window_start": "00:00", "window_end": "23:59"}
    first = await ivs.create(fields(phone="+14155550001", **anytime))
    second = await ivs.create(fields(phone="+14155550002", **anytime))
    ivs.now = SystemClock().now  # both long due by the real clock
    fake.verified_from = {"+15005550001"}  # our caller ID is not verified: 21210 for any call
    d = dialer(ivs, fake, "a", SystemClock(), calls_per_second=2, account_error_pause_s=1.5)
    d.start()
    try:

        async def one_failed() -> bool:
            return await outcomes(ivs) == ["rejected"]

        await until(one_failed, 10)
        failed_at = time.monotonic()
        await asyncio.sleep(0.8)
        assert await outcomes(ivs) == ["rejected"]  # paused: the other one is not burnt
        statuses = {(await ivs.get(i["id"]))["status"] for i in (first, second)}  # type: ignore[index]
        assert statuses == {"failed", "scheduled"}

        async def both() -> bool:
            return await outcomes(ivs) == ["rejected", "rejected"]

        await until(both, 10)
        assert time.monotonic() - failed_at >= 1.4
    finally:
        await d.stop()
    got = await ivs.get(first["id"])
    assert got is not None and got["attempts"][0]["error"]["code"] == "21210"
