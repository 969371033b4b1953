"""Retention and erasure on an injected clock, SQLite and PostgreSQL: afterwards no column of any
table, no journal file and no recording holds the candidate's number or name, while counts and
costs sum as before and other candidates' data is untouched."""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.interview.lifecycle import Conflict
from bot.observability.logs import mask_phone
from bot.store import Store
from bot.store.code_failures import CodeFailures
from bot.store.erasure import UnknownInterview, erase_interview
from bot.store.interview_tables import interview_attempts
from bot.store.interviews import InterviewStore
from bot.store.outbox_events import enable as enable_outbox
from bot.store.retention import Retention
from bot.sweeper import sweep_once
from tests.support import make_settings
from tests.support.scheduling import T0, FakeClock, database, fields, interviews_on

ADA, ADA_PHONE = "Ada Lovelace", "+14155550142"
GRACE, GRACE_PHONE = "Grace Hopper", "+14155550199"
NEEDLES = {
    ADA: [ADA, "Lovelace", ADA_PHONE, "14155550142", "4155550142", "415 555 0142", "555-0142"],
    GRACE: [GRACE, "Hopper", GRACE_PHONE, "4155550199"],
}


class Recordings:
    """A recordings store in memory: the deleter the erasure and retention are given."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    async def delete(self, call_sid: str) -> bool:
        return self.blobs.pop(call_sid, None) is not None


class World:
    """One database with two candidates' interviews, calls, transcripts and journal files."""

    def __init__(self, store: Store, clock: FakeClock, tmp: Path) -> None:
        self.store, self.clock = store, clock
        self.ivs: InterviewStore = interviews_on(store, clock)
        self.recordings = Recordings()
        self.journal = tmp / "journal"
        self.journal.mkdir()
        self.ids: dict[str, str] = {}

    async def candidate(self, name: str, phone: str, sid: str, started: datetime) -> str:
        at = (self.clock.now() + timedelta(hours=1)).isoformat()
        iv = await self.ivs.create(fields(candidate_name=name, phone=phone, scheduled_at=at))
        self.ids[name] = iv["id"]
        async with self.store.engine.begin() as conn:  # an attempt whose error quotes the number
            await conn.execute(
                sa.insert(interview_attempts).values(
                    interview_id=iv["id"],
                    seq=1,
                    created_at=started,
                    call_sid=sid,
                    outcome="failed",
                    error_code="21211",
                    last_sequence=-1,
                    error_message=f"The 'To' number {phone} is not a valid phone number.",
                )
            )
        await self.call(sid, started, iv["id"], name, phone)
        return iv["id"]

    async def call(
        self, sid: str, started: datetime, iv: str | None, name: str, phone: str
    ) -> None:
        s = self.store
        await s.call_started(
            call_sid=sid,
            direction="outbound-api",
            started_at=started,
            from_masked="+1******0100",
            to_masked=phone,
            instance="test",
            interview_id=iv,
        )
        national = phone[2:5] + " " + phone[5:8] + " " + phone[8:]
        await s.add_turn(
            sid, speaker="bot", text=f"Hello {name}!", at=started, offset_ms=0, interrupted=False
        )
        await s.add_turn(
            sid,
            speaker="caller",
            text=f"I'm {name}, call me on {national}",
            at=started + timedelta(seconds=3),
            offset_ms=3000,
            interrupted=False,
        )
        await s.add_assessment(
            sid,
            question="Tell me about yourself",
            score=4,
            evidence=f"said {name} built things",
            at=started + timedelta(seconds=9),
            offset_ms=9000,
        )
        await s.add_error(sid, source="twilio", code="13224", message=f"bad number {phone}")
        await s.call_ended(
            sid,
            ended_at=started + timedelta(minutes=5),
            turns=2,
            cost_usd=0.25,
            usage={"input_audio_tokens": 1000},
            report={"candidate": name, "questions": [{"evidence": name}]},
        )
        self.recordings.blobs[sid] = f"RIFF {name} {phone}".encode()
        (self.journal / f"{sid}.jsonl.bad").write_text(json.dumps({"text": name, "to": phone}))

    async def found(self, name: str) -> list[str]:
        """Every place (table.column, journal file, recording) where the candidate still is."""
        needles = NEEDLES[name]
        digits = [re.sub(r"\D", "", n) for n in needles if re.sub(r"\D", "", n)]
        hits = []

        def tables(conn: sa.Connection) -> list[str]:
            return sa.inspect(conn).get_table_names()

        async with self.store.engine.connect() as conn:
            for table in await conn.run_sync(tables):
                result = await conn.execute(sa.text(f'SELECT * FROM "{table}"'))
                for row in result.mappings():
                    for column, value in row.items():
                        text = json.dumps(value, default=str) if value is not None else ""
                        if any(n in text for n in needles) or any(
                            d in re.sub(r"\D", "", text) for d in digits if len(d) >= 7
                        ):
                            hits.append(f"{table}.{column}")
        for path in self.journal.iterdir():
            if any(n in path.read_text() for n in needles):
                hits.append(f"journal/{path.name}")
        for sid, blob in self.recordings.blobs.items():
            if any(n.encode() in blob for n in needles):
                hits.append(f"recording {sid}")
        return hits

    async def totals(self) -> tuple[Any, ...]:
        query = sa.text(
            "SELECT count(*), sum(cost_usd), sum(turns), sum(input_audio_tokens), "
            "sum(duration_s), (SELECT count(*) FROM interviews), "
            "(SELECT count(*) FROM interview_attempts) FROM calls"
        )
        async with self.store.engine.connect() as conn:
            return tuple((await conn.execute(query)).one())

    async def count(self, table: str, sid: str) -> int:
        query = sa.text(f"SELECT count(*) FROM {table} WHERE call_sid = :sid")
        async with self.store.engine.connect() as conn:
            return int(await conn.scalar(query, {"sid": sid}))


@pytest.fixture(params=["sqlite", "postgresql"])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    async with database(request.param, tmp_path) as open_store:
        store = await open_store()
        # The results webhook on: its outbox holds the report and the name (erased with them)
        enable_outbox(store.engine, "https://bot.example.com")
        yield World(store, FakeClock(T0 - timedelta(hours=1)), tmp_path)


async def test_retention_erases_what_is_older_than_the_days_and_keeps_counts(world: World) -> None:
    old = await world.candidate(ADA, ADA_PHONE, "CAold", T0 - timedelta(hours=1))
    await world.ivs.cancel(old)  # finished: the interview itself is past retention too
    await CodeFailures(world.store.engine, now=world.clock.now).add("hash-of-a-number")
    world.clock.advance(days=50)
    await world.candidate(GRACE, GRACE_PHONE, "CAnew", world.clock.now())
    before = await world.totals()
    assert await world.found(ADA) and await world.found(GRACE)

    world.clock.advance(days=45)  # Ada's call is 95 days old, Grace's 45
    retention = Retention(
        world.store.engine,
        90,
        recordings=world.recordings.delete,
        journal_dir=world.journal,
        now=world.clock.now,
        batch=1,
    )
    for name in ("CAold", "CAnew"):  # journal files age by their mtime
        path = world.journal / f"{name}.jsonl.bad"
        when = (world.clock.now() - timedelta(days=95 if name == "CAold" else 45)).timestamp()
        os.utime(path, (when, when))
    counts = await retention.run()

    assert await world.found(ADA) == []
    assert counts["calls"] == 1 and counts["interviews"] == 1 and counts["recordings"] == 1
    assert counts["journal_files"] == 1 and counts["code_failures"] == 1
    assert await world.totals() == before  # counts and costs stay
    assert await world.count("call_turns", "CAold") == 0
    assert await world.count("call_turns", "CAnew") == 2  # 45 days old: kept whole
    assert sorted(set(await world.found(GRACE))) == sorted(
        {
            "call_turns.text",
            "call_assessments.evidence",
            "calls.to_masked",
            "calls.report",
            "calls.errors",
            "interviews.candidate_name",
            "interviews.phone",
            "interview_attempts.error_message",
            "journal/CAnew.jsonl.bad",
            "recording CAnew",
            "webhook_outbox.payload",  # her call.ended event, 45 days old: kept
        }
    )
    call = await world.store.get_call("CAold")
    assert call is not None and call["to"] == mask_phone(ADA_PHONE) and call["cost_usd"] == 0.25
    assert call["transcript"] == [] and call["report"] is None
    assert "+1******0142" in call["errors"][0]["message"]
    iv = await world.ivs.get(old)
    assert iv is not None and iv["candidate_name"] == "[erased]" and iv["erased_at"]
    assert iv["phone"] == "+1******0142"
    assert await retention.run() == {
        "calls": 0,
        "interviews": 0,
        "recordings": 0,
        "code_failures": 0,
        "journal_files": 0,
    }


async def test_retention_days_zero_keeps_everything(world: World) -> None:
    await world.candidate(ADA, ADA_PHONE, "CAold", T0 - timedelta(hours=1))
    world.clock.advance(days=4000)
    counts = await Retention(world.store.engine, 0, now=world.clock.now).run()
    assert counts["calls"] == 0 and await world.count("call_turns", "CAold") == 2


async def test_erasure_removes_one_candidate_everywhere_and_is_idempotent(world: World) -> None:
    ada = await world.candidate(ADA, ADA_PHONE, "CA1", T0 - timedelta(hours=1))
    await world.call("CA2", T0 - timedelta(minutes=30), ada, ADA, ADA_PHONE)  # a call-in
    await world.candidate(GRACE, GRACE_PHONE, "CA3", T0 - timedelta(minutes=20))
    before, grace = await world.totals(), await world.found(GRACE)

    erased = await erase_interview(
        world.store.engine,
        ada,
        by="api",
        now=world.clock.now,
        recordings=world.recordings.delete,
        journal_dir=world.journal,
    )

    assert await world.found(ADA) == []
    assert await world.found(GRACE) == grace  # the other candidate is untouched
    assert await world.totals() == before
    assert not erased.already_erased and erased.erasure["by"] == "api"
    assert erased.erasure["counts"] == {
        "calls": 2,
        "transcript_turns": 4,
        "assessments": 2,
        "recordings": 2,
        "journal_files": 2,
    }
    iv = await world.ivs.get(ada)
    assert iv is not None and iv["status"] == "cancelled"  # no one dials a masked number
    with pytest.raises(Conflict):
        await world.ivs.reschedule(ada, {"scheduled_at": T0 + timedelta(days=1)})
    async with world.store.engine.connect() as conn:
        audit = (await conn.execute(sa.text("SELECT * FROM erasures"))).mappings().all()
    assert [a["interview_id"] for a in audit] == [ada]

    again = await erase_interview(world.store.engine, ada, by="cli", now=world.clock.now)
    assert again.already_erased and again.erasure == erased.erasure
    with pytest.raises(UnknownInterview):
        await erase_interview(world.store.engine, "iv_0000000000000000", by="cli")


async def test_erasure_waits_while_the_interview_is_being_called(world: World) -> None:
    iv = await world.ivs.create(fields(candidate_name=ADA, phone=ADA_PHONE))
    world.clock.advance(hours=1)
    [claim] = await world.ivs.claim_due("test", 1)
    with pytest.raises(Conflict, match="dialing"):
        await erase_interview(world.store.engine, iv["id"], by="api")
    assert claim.candidate_name == ADA and await world.found(ADA)


async def test_the_sweeper_runs_retention_every_ten_minutes(world: World, tmp_path: Path) -> None:
    await world.candidate(ADA, ADA_PHONE, "CAold", T0 - timedelta(hours=1))
    await world.candidate(GRACE, GRACE_PHONE, "CAlater", T0 - timedelta(minutes=50))
    settings = make_settings(tmp=tmp_path)
    retention = Retention(world.store.engine, 90, now=world.clock.now)
    world.clock.advance(days=90, minutes=2)  # Ada's call is past 90 days, Grace's not yet
    await sweep_once(world.store, settings, {}, retention=retention)
    assert await world.count("call_turns", "CAold") == 0
    world.clock.advance(minutes=9)  # Grace's is past too, but the last pass was 9 minutes ago
    await sweep_once(world.store, settings, {}, retention=retention)
    assert await world.count("call_turns", "CAlater") == 2
    world.clock.advance(minutes=1)
    await sweep_once(world.store, settings, {}, retention=retention)
    assert await world.count("call_turns", "CAlater") == 0


async def test_an_interrupted_call_erased_by_retention_gets_no_new_report(world: World) -> None:
    await world.candidate(ADA, ADA_PHONE, "CAold", T0 - timedelta(hours=1))
    await world.store.call_updated("CAold", status="interrupted")
    world.clock.advance(days=91)
    await Retention(world.store.engine, 90, now=world.clock.now).run()
    assert await world.store.interrupted_without_report() == []
