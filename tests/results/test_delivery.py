"""The results webhook's delivery worker against a real receiver on 127.0.0.1: signatures the
README's snippet verifies, retries until delivered once, 4xx stops, 24 h, leases, replicas."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bot.observability.metrics import Metrics
from bot.results.delivery import DeliveryWorker
from bot.results.signing import signature, verify
from bot.store import Store
from bot.store.outbox import Outbox
from bot.store.outbox_events import emit
from tests.results.receiver import Receiver
from tests.support.scheduling import FakeClock, database

SECRET = "s3cret-results-key-0123"


@pytest.fixture(params=["sqlite", "postgresql"])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple]:
    async with database(request.param, tmp_path) as open_store:
        yield open_store, FakeClock()


async def add_events(store: Store, clock: FakeClock, n: int = 1) -> list[str]:
    """n call.ended events in the outbox; their ids."""
    ids = []
    async with store.engine.begin() as conn:
        for i in range(n):
            await emit(conn, "call.ended", f"call.ended:CA{i}:completed", f"CA{i}",
                       {"call_sid": f"CA{i}", "n": i}, clock.now())  # fmt: skip
    outbox = Outbox(store.engine)
    rows, _ = await outbox.list(limit=200)
    ids = [r["id"] for r in rows]
    assert len(ids) == n
    return ids


def worker(
    store: Store, clock: FakeClock, url: str, name: str = "a", **kw: object
) -> DeliveryWorker:
    options = {"schedule_s": (30.0,), "lease_s": 60.0, "timeout_s": 2.0, **kw}
    return DeliveryWorker(Outbox(store.engine, now=clock.now), url, SECRET, instance=name,
                          metrics=Metrics(), **options)  # type: ignore[arg-type]  # fmt: skip


async def state(store: Store, event_id: str) -> dict:
    rows, _ = await Outbox(store.engine).list(limit=200)
    return next(r for r in rows if r["id"] == event_id)


def test_signature_round_trip_and_tampering() -> None:
    body = b'{"id":"evt_1"}'
    header = signature(SECRET, body, 1_700_000_000)
    assert verify(SECRET, header, body, now=1_700_000_010)
    assert not verify(SECRET, header, body + b" ", now=1_700_000_010)
    assert not verify("another-secret-000000", header, body, now=1_700_000_010)
    assert not verify(SECRET, header, body, now=1_700_000_000 + 301)  # a replay, too late


async def test_a_signed_event_reaches_the_receiver_and_verifies(env: tuple) -> None:
    open_store, clock = env
    store = await open_store()
    [event_id] = await add_events(store, clock)
    receiver = Receiver(SECRET)
    await receiver.up()
    try:
        w = worker(store, clock, receiver.url)
        async with w.client() as client:
            assert await w.run_once(client) == 1
    finally:
        await receiver.down()
    [got] = receiver.requests
    assert got.signature_ok and got.event_id == event_id
    created = clock.now().isoformat()
    assert got.event == {"id": event_id, "type": "call.ended", "created_at": created,
                         "data": {"call_sid": "CA0", "n": 0}}  # fmt: skip
    assert got.headers["x-interview-event-type"] == "call.ended"
    row = await state(store, event_id)
    assert (row["status"], row["attempts"], row["last_status"]) == ("delivered", 1, 200)
    # a receiver with another secret refuses it (the snippet really checks)
    assert not receiver.verify("not-the-secret-0000", got.headers["x-interview-signature"], b"{}")


async def test_down_then_500_then_200_delivers_exactly_once(env: tuple) -> None:
    open_store, clock = env
    store = await open_store()
    [event_id] = await add_events(store, clock)
    receiver = Receiver(SECRET, script=[500])
    w = worker(store, clock, receiver.url)
    async with w.client() as client:
        assert await w.run_once(client) == 1  # nobody listens: connection refused
        row = await state(store, event_id)
        assert (row["status"], row["attempts"], row["last_status"]) == ("pending", 1, None)
        assert "ConnectError" in row["last_error"]
        assert await w.run_once(client) == 0  # not due before its backoff
        await receiver.up()
        try:
            clock.advance(seconds=40)
            assert await w.run_once(client) == 1  # 500: retried
            assert (await state(store, event_id))["last_status"] == 500
            clock.advance(seconds=40)
            assert await w.run_once(client) == 1  # 200
            clock.advance(hours=1)
            assert await w.run_once(client) == 0  # delivered: never again
        finally:
            await receiver.down()
    assert receiver.accepted() == [event_id]
    assert [r.status for r in receiver.requests] == [500, 200]
    row = await state(store, event_id)
    assert row["status"] == "delivered" and row["attempts"] == 3
    assert [h["outcome"] for h in row["history"]] == ["retry", "retry", "delivered"]
    assert w.metrics.webhook_deliveries.labels("delivered")._value.get() == 1
    assert w.metrics.webhook_deliveries.labels("retry")._value.get() == 2


@pytest.mark.parametrize(("status", "outcome"), [(400, "failed"), (410, "failed"),
                                                 (429, "pending"), (408, "pending")])  # fmt: skip
async def test_a_4xx_stops_at_once_but_408_and_429_are_retried(
    env: tuple, status: int, outcome: str
) -> None:
    open_store, clock = env
    store = await open_store()
    [event_id] = await add_events(store, clock)
    receiver = Receiver(SECRET, script=[status])
    await receiver.up()
    try:
        w = worker(store, clock, receiver.url)
        async with w.client() as client:
            await w.run_once(client)
            clock.advance(hours=2)
            await w.run_once(client) if outcome == "failed" else None
    finally:
        await receiver.down()
    row = await state(store, event_id)
    assert (row["status"], row["last_status"]) == (outcome, status)
    assert len(receiver.requests) == 1  # a failed one is never tried again


async def test_retries_stop_24_hours_after_the_event(env: tuple) -> None:
    open_store, clock = env
    store = await open_store()
    [event_id] = await add_events(store, clock)
    receiver = Receiver(SECRET, script=[503] * 100)
    await receiver.up()
    try:
        w = worker(store, clock, receiver.url, schedule_s=(3600.0,))
        async with w.client() as client:
            for _ in range(30):
                await w.run_once(client)
                clock.advance(hours=1, minutes=13)  # past any jitter
    finally:
        await receiver.down()
    row = await state(store, event_id)
    assert row["status"] == "failed" and "gave up" in row["last_error"]
    assert 18 <= row["attempts"] <= 24  # hourly (±20 %) for 24 h, then no more
    assert len(receiver.requests) == row["attempts"]


async def test_a_crash_between_claim_and_delivery_is_delivered_after_the_lease(
    env: tuple,
) -> None:
    open_store, clock = env
    store_a, store_b = await open_store(), await open_store()
    [event_id] = await add_events(store_a, clock)
    receiver = Receiver(SECRET)
    await receiver.up()
    try:
        a = worker(store_a, clock, receiver.url, "a")
        [claimed] = await a.outbox.claim("a", 10, a.lease_s)  # then replica a dies
        b = worker(store_b, clock, receiver.url, "b")
        async with b.client() as client:
            assert await b.run_once(client) == 0  # a's lease holds
            clock.advance(seconds=61)
            assert await b.run_once(client) == 1
        # a's late settle (it was only slow) loses: the claim is b's
        assert not await a.outbox.settle(claimed, outcome="delivered", http_status=200,
                                         error=None)  # fmt: skip
    finally:
        await receiver.down()
    assert receiver.accepted() == [event_id]
    row = await state(store_a, event_id)
    assert (row["status"], row["claimed_by"], row["attempts"]) == ("delivered", "b", 1)


async def test_two_workers_on_one_database_deliver_each_event_once(env: tuple) -> None:
    open_store, clock = env
    store_a, store_b = await open_store(), await open_store()
    ids = await add_events(store_a, clock, 40)
    receiver = Receiver(SECRET)
    await receiver.up()
    try:
        workers = [
            worker(store_a, clock, receiver.url, "a"),
            worker(store_b, clock, receiver.url, "b"),
        ]

        async def drain(w: DeliveryWorker) -> int:
            done = 0
            async with w.client() as client:
                while n := await w.run_once(client):
                    done += n
            return done

        counts = await asyncio.wait_for(asyncio.gather(*map(drain, workers)), 60)
    finally:
        await receiver.down()
    assert sorted(receiver.accepted()) == sorted(ids)  # each exactly once
    assert sum(counts) == len(ids)
    by = {r["claimed_by"] for r in (await Outbox(store_a.engine).list(limit=200))[0]}
    assert by <= {"a", "b"}


async def test_a_timeout_is_retried(env: tuple) -> None:
    open_store, clock = env
    store = await open_store()
    [event_id] = await add_events(store, clock)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    w = worker(store, clock, "http://127.0.0.1:9/x", transport=httpx.MockTransport(slow))
    async with w.client() as client:
        await w.run_once(client)
    row = await state(store, event_id)
    assert row["status"] == "pending" and row["last_error"].startswith("timeout after")
    wait = datetime.fromisoformat(row["next_attempt_at"]) - clock.now()
    assert timedelta(seconds=23) < wait < timedelta(seconds=37)  # 30 s ±20 %
