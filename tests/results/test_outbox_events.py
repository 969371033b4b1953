"""Results webhook events are written in the transaction of the change they report: the
interview's end (completed once its call's record has ended, in either order; failed), the call
record's end (also when replayed from the journal), never twice, never after a rollback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.interview.decisions import Transition
from bot.store import Store
from bot.store.interview_db import move
from bot.store.interviews import InterviewStore
from bot.store.outbox import Outbox
from bot.store.outbox_events import enable
from bot.store.outbox_tables import webhook_outbox
from bot.store.record_writes import Write, apply
from tests.support.scheduling import T0, FakeClock, database, fields, interviews_on

SID = "CA" + "7" * 32
DONE = {"CallSid": SID, "CallStatus": "completed", "SequenceNumber": "3"}


@pytest.fixture(params=["sqlite", "postgresql"])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple]:
    async with database(request.param, tmp_path) as open_store:
        store = await open_store()
        enable(store.engine, "https://bot.example.com")
        clock = FakeClock()
        yield store, interviews_on(store, clock, max_attempts=1, backoff_s=600), clock


async def events(store: Store) -> list[dict]:
    async with store.engine.connect() as conn:
        query = sa.select(webhook_outbox.c.payload).order_by(webhook_outbox.c.type)
        return [dict(p) for p in (await conn.execute(query)).scalars().all()]


async def in_call(store: Store, ivs: InterviewStore) -> str:
    """An interview dialed and answered; its call record started, with one assessment."""
    iv = await ivs.create(fields())
    [claim] = await ivs.claim_due("t", 1)
    await ivs.dialed(claim, SID)
    await store.call_started(call_sid=SID, direction="outbound", started_at=T0,
                             from_masked="+1******0006", to_masked="+1******0142",
                             instance="t", interview_id=iv["id"], profile="practice")  # fmt: skip
    await store.add_assessment(SID, question="Q1", score=4, evidence="said so", at=T0,
                               offset_ms=1000.0)  # fmt: skip
    return iv["id"]


def end_write() -> Write:
    report = {"profile": "practice", "questions": []}
    return Write(
        "call_ended",
        SID,
        {
            "status": "completed",
            "end_reason": "completed",
            "ended_at": T0 + timedelta(minutes=5),
            "report": report,
        },
    )


def check_completed(event: dict, interview_id: str) -> None:
    data = event["data"]
    assert event["type"] == "interview.completed" and event["id"].startswith("evt_")
    assert data["interview_id"] == interview_id and data["call_sid"] == SID
    assert data["candidate"] == {"name": "Ada Lovelace", "phone": "+1******0142"}
    assert data["report"] == {"profile": "practice", "questions": []}
    assert [a["score"] for a in data["assessments"]] == [4]
    assert data["recording_url"] == f"https://bot.example.com/api/calls/{SID}/recording"
    assert [c["call_sid"] for c in data["calls"]] == [SID]
    assert "+14155550142" not in str(event)


async def test_callback_first_then_the_record_ends(env: tuple) -> None:
    store, ivs, _ = env
    interview_id = await in_call(store, ivs)
    await ivs.apply_callback(interview_id, 1, DONE)  # completed; the record is still open
    assert await events(store) == []
    await apply(store, end_write())
    ended, completed = await events(store)
    assert ended["type"] == "call.ended" and ended["data"]["status"] == "completed"
    assert ended["data"]["to"] == "+1******0142" and "errors" not in ended["data"]
    check_completed(completed, interview_id)
    await apply(store, end_write())  # the journal replayed twice: the same facts, no new event
    await ivs.apply_callback(interview_id, 1, DONE)
    assert len(await events(store)) == 2


async def test_record_ends_first_then_the_callback(env: tuple) -> None:
    store, ivs, _ = env
    interview_id = await in_call(store, ivs)
    await apply(store, end_write())
    assert [e["type"] for e in await events(store)] == ["call.ended"]
    await ivs.apply_callback(interview_id, 1, DONE)
    _ended, completed = await events(store)
    check_completed(completed, interview_id)


async def test_failed_for_good_says_why_and_the_attempts(env: tuple) -> None:
    store, ivs, _ = env
    iv = await ivs.create(fields())
    [claim] = await ivs.claim_due("t", 1)
    await ivs.dial_failed(claim, http_status=400, code=21211, message="Invalid 'To' Phone Number")
    [event] = await events(store)
    assert event["type"] == "interview.failed"
    data = event["data"]
    assert data["interview_id"] == iv["id"] and "Invalid 'To'" in data["why"]
    assert [a["seq"] for a in data["attempts"]] == [1]
    assert data["candidate"]["phone"] == "+1******0142"


async def test_a_rolled_back_change_writes_no_event(env: tuple) -> None:
    store, ivs, clock = env
    iv = await ivs.create(fields())
    with pytest.raises(RuntimeError):
        async with store.engine.begin() as conn:
            await conn.execute(sa.text("UPDATE interviews SET status='in_progress'"))
            await move(conn, iv["id"], Transition("failed"), clock.now())
            assert len((await conn.execute(sa.select(webhook_outbox))).all()) == 1
            raise RuntimeError("the state change fails after the event was written")
    assert await events(store) == []
    assert (await ivs.get(iv["id"]))["status"] == "scheduled"  # type: ignore[index]


async def test_without_the_setting_nothing_is_written(tmp_path: Path) -> None:
    async with database("sqlite", tmp_path) as open_store:
        store = await open_store()  # outbox not enabled
        ivs = interviews_on(store, FakeClock(), max_attempts=1, backoff_s=600)
        interview_id = await in_call(store, ivs)
        await ivs.apply_callback(interview_id, 1, DONE)
        await apply(store, end_write())
        assert await events(store) == []
        assert await Outbox(store.engine).backlog() == 0
