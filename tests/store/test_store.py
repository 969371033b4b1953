"""The call log store on SQLite and (when TEST_DATABASE_URL is set) PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from bot.store import Store, UnknownCall, database_url, migrate, percentile
from bot.store.tables import calls as calls_table

T0 = datetime(2026, 11, 25, 6, 0, 0, tzinfo=UTC)
CALL_KEYS = {
    "call_sid", "direction", "status", "interview_id", "profile", "from", "to", "started_at",
    "answered_at", "ended_at", "duration_s", "end_reason", "turns", "barge_ins",
    "response_ms_p50", "response_ms_p95", "usage", "cost_usd", "errors",
    "answered_by", "voicemail_at",  # dialer calls: the AMD verdict, the message left (14.1)
    "recording",  # issue 16
}  # fmt: skip
USAGE_KEYS = {
    "input_text_tokens", "input_audio_tokens", "cached_text_tokens", "cached_audio_tokens",
    "output_text_tokens", "output_audio_tokens", "cached_split",
}  # fmt: skip


def pg_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL") or None


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A migrated Store: a fresh SQLite file, or a fresh PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        opened = await Store.open(database_url(None, tmp_path))
        yield opened
        await opened.close()
        return
    raw = pg_url()
    if raw is None:
        pytest.skip("TEST_DATABASE_URL is unset: PostgreSQL store tests skipped")
    import asyncpg

    plain = "postgresql://" + database_url(raw, tmp_path).split("://", 1)[1]
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(plain)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        opened = await Store.open(
            database_url(raw, tmp_path),
            connect_args={"server_settings": {"search_path": schema}},
        )
        yield opened
        await opened.close()
    finally:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


async def start(store: Store, sid: str, at: datetime = T0, **extra: object) -> None:
    await store.call_started(
        call_sid=sid,
        direction="inbound",
        started_at=at,
        from_masked="+1******1234",
        to_masked="+1******0006",
        instance="replica-a",
        **extra,  # type: ignore[arg-type]
    )


def test_database_url(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert database_url(None, data) == f"sqlite+aiosqlite:///{data}/bot.db"
    assert data.is_dir()
    assert database_url("sqlite:///x.db", data) == "sqlite+aiosqlite:///x.db"
    assert database_url("sqlite:////abs/x.db", data) == "sqlite+aiosqlite:////abs/x.db"
    assert database_url("postgresql://u:p@h/db", data) == "postgresql+asyncpg://u:p@h/db"
    assert database_url("postgres://u@h:5432/db", data) == "postgresql+asyncpg://u@h:5432/db"
    assert (
        database_url("postgresql://u@h/db?sslmode=require", data)
        == "postgresql+asyncpg://u@h/db?ssl=require"
    )
    for ready in ("sqlite+aiosqlite:///y.db", "postgresql+asyncpg://h/db"):
        assert database_url(ready, data) == ready
    for bad in ("mysql://h/db", "postgresql+psycopg2://h/db", "nonsense"):
        with pytest.raises(ValueError, match="DATABASE_URL"):
            database_url(bad, data)


def test_percentile() -> None:
    assert percentile([], 50) is None
    assert percentile([100.0], 95) == 100.0
    assert percentile([100.0, 200.0, 300.0], 50) == 200.0
    assert percentile([100.0, 200.0, 300.0], 95) == pytest.approx(290.0)


async def test_migrations_create_tables(store: Store) -> None:
    async with store.engine.connect() as conn:
        names = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
        indexes = await conn.run_sync(lambda c: sa.inspect(c).get_indexes("calls"))
        version = await conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
    assert {"calls", "call_turns", "call_assessments", "alembic_version"} <= set(names)
    assert any(ix["column_names"] == ["started_at"] for ix in indexes)
    heads = ScriptDirectory.from_config(migrate.alembic_config()).get_heads()
    assert heads == [version]  # every migration applied, and there is one line of them


async def test_reopen_is_idempotent(tmp_path: Path) -> None:
    url = database_url(None, tmp_path)
    first = await Store.open(url)
    await start(first, "CA1")
    await first.close()
    again = await Store.open(url)
    assert (await again.get_call("CA1")) is not None
    async with again.engine.connect() as conn:
        mode = await conn.scalar(sa.text("PRAGMA journal_mode"))
        busy = await conn.scalar(sa.text("PRAGMA busy_timeout"))
    assert mode == "wal"
    assert busy >= 1000
    await again.close()


async def test_start_update_end_round_trip(store: Store) -> None:
    await start(store, "CA1", interview_id="iv-7", profile="backend")
    call = await store.get_call("CA1")
    assert call is not None
    assert call["status"] == "in_progress"
    assert call["from"] == "+1******1234" and call["to"] == "+1******0006"
    assert call["interview_id"] == "iv-7" and call["profile"] == "backend"
    assert call["usage"] == {**dict.fromkeys(USAGE_KEYS - {"cached_split"}, 0),
                             "cached_split": "reported"}  # fmt: skip
    assert call["cost_usd"] == 0 and call["errors"] == [] and call["transcript"] == []

    await store.call_updated(
        "CA1",
        answered_at=T0 + timedelta(seconds=1),
        turns=4,
        barge_ins=1,
        response_ms=[600.0, 620.0, 580.0, 700.0],
        usage={"input_audio_tokens": 1200, "output_audio_tokens": 3400, "input_text_tokens": 50},
        cost_usd=0.25,
    )
    await store.add_error("CA1", source="voicelive", code="rate_limited", message="slow down")
    await store.call_ended(
        "CA1",
        ended_at=T0 + timedelta(seconds=65),
        end_reason="interview_finished",
        output_text_tokens=90,
    )
    call = await store.get_call("CA1")
    assert call is not None
    assert CALL_KEYS | {"transcript"} <= set(call)
    assert call["status"] == "completed"
    assert call["answered_at"] == "2026-11-25T06:00:01+00:00"
    assert call["ended_at"] == "2026-11-25T06:01:05+00:00"
    assert call["duration_s"] == 65.0
    assert call["end_reason"] == "interview_finished"
    assert (call["turns"], call["barge_ins"]) == (4, 1)
    assert call["response_ms_p50"] == pytest.approx(610.0)
    assert call["response_ms_p95"] == pytest.approx(688.0)
    assert call["usage"]["input_audio_tokens"] == 1200
    assert call["usage"]["output_audio_tokens"] == 3400
    assert call["usage"]["output_text_tokens"] == 90
    assert call["cost_usd"] == 0.25
    [error] = call["errors"]
    assert (error["source"], error["code"], error["message"]) == (
        "voicelive",
        "rate_limited",
        "slow down",
    )
    listed, _ = await store.list_calls()
    assert set(listed[0]) == CALL_KEYS
    assert set(listed[0]["usage"]) == USAGE_KEYS


async def test_second_start_updates(store: Store) -> None:
    await start(store, "CA1", interview_id="iv-1")
    await start(store, "CA1", at=T0 + timedelta(seconds=2), profile="p")
    call = await store.get_call("CA1")
    assert call is not None
    assert call["started_at"] == "2026-11-25T06:00:02+00:00"
    assert (call["interview_id"], call["profile"]) == ("iv-1", "p")
    assert len((await store.list_calls())[0]) == 1


async def test_bad_updates_are_refused(store: Store) -> None:
    await start(store, "CA1")
    with pytest.raises(ValueError, match="unknown call field"):
        await store.call_updated("CA1", nonsense=1)
    with pytest.raises(ValueError, match="status"):
        await store.call_updated("CA1", status="done")
    with pytest.raises(UnknownCall):
        await store.call_updated("CA404", turns=1)
    with pytest.raises(UnknownCall):
        await store.add_turn(
            "CA404", speaker="bot", text="x", at=T0, offset_ms=0, interrupted=False
        )
    with pytest.raises(ValueError, match="speaker"):
        await store.add_turn(
            "CA1", speaker="robot", text="x", at=T0, offset_ms=0, interrupted=False
        )


async def test_turns_in_order(store: Store) -> None:
    await start(store, "CA1")
    await start(store, "CA2")
    lines = [("bot", "Hello, ready?", False), ("caller", "Yes.", False), ("bot", "Tell me", True)]
    for i, (speaker, text, cut) in enumerate(lines):
        at = T0 + timedelta(seconds=5 * i)
        await store.add_turn(
            "CA1", speaker=speaker, text=text, at=at, offset_ms=5000.0 * i, interrupted=cut
        )
        await store.add_turn(
            "CA2", speaker="bot", text="other", at=at, offset_ms=0, interrupted=False
        )
    call = await store.get_call("CA1")
    assert call is not None
    assert call["transcript"] == [
        {
            "speaker": speaker,
            "text": text,
            "at": (T0 + timedelta(seconds=5 * i)).isoformat(),
            "offset_ms": 5000.0 * i,
            "interrupted": cut,
        }
        for i, (speaker, text, cut) in enumerate(lines)
    ]
    assert await store.get_call("CA404") is None


async def test_a_turn_or_assessment_written_again_is_stored_once(store: Store) -> None:
    """A write retried after its answer was lost (it had committed), or a journal replayed
    twice: the same turn (speaker, time, text) and assessment (question, time) are kept once."""
    await start(store, "CA1")
    turns = [("bot", "Hello, ready?", T0), ("caller", "Yes.", T0 + timedelta(seconds=2)),
             ("caller", "Yes.", T0 + timedelta(seconds=4))]  # fmt: skip
    for _ in range(2):
        for speaker, text, at in turns:
            await store.add_turn(
                "CA1", speaker=speaker, text=text, at=at, offset_ms=0, interrupted=False
            )
        await store.add_assessment(
            "CA1", question="q1", score=3, evidence="e", at=T0, offset_ms=1.0
        )
    call = await store.get_call("CA1")
    assert call is not None
    assert [(t["speaker"], t["text"]) for t in call["transcript"]] == [
        ("bot", "Hello, ready?"), ("caller", "Yes."), ("caller", "Yes.")  # said twice: kept
    ]  # fmt: skip
    assert len(call["assessments"]) == 1


async def test_a_call_taken_for_dead_during_an_outage_is_resumed(store: Store) -> None:
    now = datetime.now(UTC)
    await start(store, "CA1", at=now - timedelta(minutes=5))
    await store.call_updated("CA1", heartbeat_at=now - timedelta(minutes=1))
    assert await store.mark_interrupted(stale_after_s=15) == 1
    await store.call_resumed("CA1")  # its writes got through again
    call = await store.get_call("CA1")
    assert call is not None and call["status"] == "in_progress" and call["ended_at"] is None
    await store.call_ended("CA1", end_reason="caller_hung_up")
    await store.call_resumed("CA1")  # only an interrupted call is resumed
    call = await store.get_call("CA1")
    assert call is not None and call["status"] == "completed"


async def test_mark_interrupted(store: Store) -> None:
    now = datetime.now(UTC)
    for sid in ("CAstale", "CAfresh", "CAdone"):
        await start(store, sid, at=now - timedelta(minutes=5))
    await store.add_turn(
        "CAstale", speaker="bot", text="Hi", at=now, offset_ms=10, interrupted=False
    )
    await store.call_ended("CAdone", end_reason="caller_hangup")
    beat = (await store.get_call("CAstale") or {})["heartbeat_at"]

    later = datetime.fromisoformat(beat) + timedelta(seconds=30)
    await store.call_updated("CAfresh", heartbeat_at=later - timedelta(seconds=1))
    assert await store.mark_interrupted(stale_after_s=20, now=later) == 1
    assert await store.mark_interrupted(stale_after_s=20, now=later) == 0

    stale = await store.get_call("CAstale")
    assert stale is not None
    assert (stale["status"], stale["end_reason"]) == ("interrupted", "interrupted")
    assert stale["ended_at"] == beat
    assert stale["duration_s"] == pytest.approx(300, abs=2)
    assert [t["text"] for t in stale["transcript"]] == ["Hi"]
    assert (await store.get_call("CAfresh") or {})["status"] == "in_progress"
    assert (await store.get_call("CAdone") or {})["status"] == "completed"


async def test_pagination_with_cursor(store: Store) -> None:
    # seven calls, two of them starting at the same instant (the cursor must break the tie)
    starts = [T0 + timedelta(minutes=m) for m in (0, 1, 2, 3, 3, 4, 5)]
    for i, at in enumerate(starts):
        await start(store, f"CA{i}", at=at)
    seen: list[str] = []
    cursor = None
    pages = []
    while True:
        page, cursor = await store.list_calls(limit=3, cursor=cursor)
        pages.append(len(page))
        seen += [c["call_sid"] for c in page]
        if cursor is None:
            break
    assert pages == [3, 3, 1]
    assert seen == ["CA6", "CA5", "CA4", "CA3", "CA2", "CA1", "CA0"]
    page, cursor = await store.list_calls(limit=7)
    assert len(page) == 7 and cursor is None
    with pytest.raises(ValueError, match="cursor"):
        await store.list_calls(cursor="not-a-cursor")


async def test_filters(store: Store) -> None:
    for i in range(4):
        await start(store, f"CA{i}", at=T0 + timedelta(hours=i))
    await store.call_ended("CA0", status="failed", end_reason="error")
    await store.call_ended("CA2", end_reason="caller_hangup")
    since = T0 + timedelta(hours=1)
    assert [c["call_sid"] for c in (await store.list_calls(since=since))[0]] == [
        "CA3",
        "CA2",
        "CA1",
    ]
    completed, _ = await store.list_calls(status="completed")
    assert [c["call_sid"] for c in completed] == ["CA2"]
    both, _ = await store.list_calls(status="in_progress", since=T0 + timedelta(hours=2))
    assert [c["call_sid"] for c in both] == ["CA3"]
    with pytest.raises(ValueError, match="status"):
        await store.list_calls(status="weird")
    with pytest.raises(ValueError, match="limit"):
        await store.list_calls(limit=0)


async def test_concurrent_writes(store: Store) -> None:
    async def one_call(i: int) -> None:
        sid = f"CA{i:02d}"
        await start(store, sid, at=T0 + timedelta(seconds=i))
        for n in range(5):
            await store.add_turn(
                sid, speaker="bot", text=f"{i}-{n}", at=T0, offset_ms=n, interrupted=False
            )
            await store.call_updated(sid, turns=n + 1)
        await store.call_ended(sid, end_reason="interview_finished")

    await asyncio.gather(*(one_call(i) for i in range(20)))
    listed, _ = await store.list_calls(limit=50)
    assert len(listed) == 20
    assert all(c["status"] == "completed" and c["turns"] == 5 for c in listed)
    for i in (0, 19):
        call = await store.get_call(f"CA{i:02d}")
        assert call is not None
        assert [t["text"] for t in call["transcript"]] == [f"{i}-{n}" for n in range(5)]

    # 20 tasks appending to the same call get distinct, gap-free sequence numbers
    await start(store, "CAshared")
    await asyncio.gather(
        *(
            store.add_turn("CAshared", speaker="caller", text=str(n), at=T0, offset_ms=n,
                           interrupted=False)
            for n in range(20)
        )
    )  # fmt: skip
    call = await store.get_call("CAshared")
    assert call is not None
    assert sorted(int(t["text"]) for t in call["transcript"]) == list(range(20))


async def test_times_are_utc_aware(store: Store) -> None:
    plus_two = timezone(timedelta(hours=2))
    await start(store, "CA1", at=datetime(2026, 11, 25, 8, 0, tzinfo=plus_two))
    await store.call_updated("CA1", answered_at=datetime(2026, 11, 25, 6, 0, 1))  # naive = UTC
    async with store.engine.connect() as conn:
        row = (await conn.execute(sa.select(calls_table))).mappings().one()
    for name in ("started_at", "answered_at", "heartbeat_at"):
        assert row[name].tzinfo is not None and row[name].utcoffset() == timedelta(0)
    assert row["started_at"] == T0
    assert row["answered_at"] == T0 + timedelta(seconds=1)
    call = await store.get_call("CA1")
    assert call is not None
    assert call["started_at"] == "2026-11-25T06:00:00+00:00"
    listed, _ = await store.list_calls(since=datetime(2026, 11, 25, 7, 59, tzinfo=plus_two))
    assert [c["call_sid"] for c in listed] == ["CA1"]
    listed, _ = await store.list_calls(since=datetime(2026, 11, 25, 8, 1, tzinfo=plus_two))
    assert listed == []
