"""Two `bot serve` processes on one PostgreSQL behave as one service: the <Connect action>
apology, single-use stream tokens, and interviews stuck when a call is gone."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from bot.store import Store
from bot.store.interview_tables import interview_attempts, interviews
from bot.store.interviews import InterviewStore
from bot.store.tables import calls
from bot.twilio.twiml import APOLOGY
from tests.fakes.voicelive import FakeVoiceLive
from tests.support import bot_env, bot_process, free_port, make_settings
from tests.support.bridge import Bridge
from tests.support.replicas import open_stream, shared_postgres


def _replica(tmp: Path, port: int, vl: FakeVoiceLive) -> Bridge:
    return Bridge(f"http://127.0.0.1:{port}", make_settings(port, tmp), vl)


@contextlib.asynccontextmanager
async def two_replicas(tmp: Path) -> AsyncIterator[tuple[Bridge, Bridge]]:
    """Replicas A and B (`bot serve` each) on one PostgreSQL; Voice Live refuses sessions."""
    async with shared_postgres() as url, FakeVoiceLive(refuse_status=403) as vl:
        ports = free_port(), free_port()
        envs = [
            bot_env(tmp / name, port, vl.endpoint, DATABASE_URL=url)
            for name, port in zip("ab", ports, strict=True)
        ]
        async with (
            bot_process(envs[0], ports[0], tmp / "a.log"),
            bot_process(envs[1], ports[1], tmp / "b.log"),
        ):
            yield _replica(tmp, ports[0], vl), _replica(tmp, ports[1], vl)


async def test_an_apology_decided_on_one_replica_is_said_by_the_other(tmp_path: Path) -> None:
    async with two_replicas(tmp_path) as (a, b):
        async with await a.call() as call:  # Voice Live refuses A's session: the call failed
            assert await call.wait_closed(10) == 1000
        ended = await b.post("/twilio/stream-ended", {"CallSid": call.call_sid})
        assert ended.status_code == 200
        assert f"<Say>{APOLOGY}</Say>" in ended.text, ended.text
        unknown = await b.post("/twilio/stream-ended", {"CallSid": "CA" + "9" * 32})
        assert "<Say>" not in unknown.text  # no replica knows it: no apology


async def test_a_token_used_on_one_replica_is_refused_on_the_other(tmp_path: Path) -> None:
    async with two_replicas(tmp_path) as (a, b):
        for n, (mint, other) in enumerate(((a, b), (b, a))):
            call_sid = f"CA{n:032d}"
            _url, params, _root = await mint.answer(call_sid)
            async with await open_stream(mint, call_sid, params) as first:
                assert await first.wait_closed(10) == 1000  # accepted (then the model failed)
            async with await open_stream(other, call_sid, params) as replay:
                assert await replay.wait_closed(10) == 1008, "a used token was accepted"
                assert replay.close_reason == "unauthorised stream"


async def test_a_stuck_interview_is_swept_once_by_two_replicas(tmp_path: Path) -> None:
    async with shared_postgres() as url:
        store = await Store.open(url)
        try:
            ivs = InterviewStore(store.engine)
            stuck, live = [await _in_call(ivs, store, n) for n in range(2)]
            last_try = await _dialed(ivs, 2)
            past = datetime.now(UTC) - timedelta(minutes=10)
            async with store.engine.begin() as conn:
                # stuck: its replica died mid-call (heartbeat stopped 10 minutes ago)
                await conn.execute(
                    sa.update(calls).where(calls.c.call_sid == stuck[1]).values(heartbeat_at=past)
                )
                # last_try: its third try rang and Twilio's callbacks were lost
                await conn.execute(sa.delete(calls).where(calls.c.call_sid == last_try[1]))
                await conn.execute(
                    sa.update(interviews)
                    .where(interviews.c.id == last_try[0])
                    .values(status="dialing", tries=3)
                )
                await conn.execute(sa.update(interviews).values(updated_at=past))
                await conn.execute(sa.update(interview_attempts).values(created_at=past))
            beat = asyncio.create_task(_keep_alive(store, live[1]))  # live: its call goes on
            ports = free_port(), free_port()
            envs = [
                bot_env(
                    tmp_path / name, port, "http://127.0.0.1:9", DATABASE_URL=url,
                    CALL_HEARTBEAT_S="0.3", DIALER_RECOVERY_S="1",
                    TWILIO_API_URL="http://127.0.0.1:9", LOG_FORMAT="json",
                )
                for name, port in zip("ab", ports, strict=True)
            ]  # fmt: skip
            try:
                async with (
                    bot_process(envs[0], ports[0], tmp_path / "a.log"),
                    bot_process(envs[1], ports[1], tmp_path / "b.log"),
                ):
                    for _ in range(200):
                        got = [await ivs.get(iv) for iv, _sid in (stuck, last_try)]
                        if [g and g["status"] for g in got] == ["retrying", "failed"]:
                            break
                        await asyncio.sleep(0.05)
                    await asyncio.sleep(2)  # both replicas sweep a few more times
            finally:
                beat.cancel()
            got = [await ivs.get(iv) for iv, _sid in (stuck, last_try, live)]
        finally:
            await store.close()
    assert [g and g["status"] for g in got] == ["retrying", "failed", "in_progress"]
    # its replica died mid-call: the interview resumes (issue 14.4)
    assert [a["outcome"] for a in got[0]["attempts"]] == ["dropped"]
    assert [a["outcome"] for a in got[1]["attempts"]] == ["lost"]
    logs = (tmp_path / "a.log").read_text() + (tmp_path / "b.log").read_text()
    swept = [line for line in logs.splitlines() if "interview.swept" in line]
    assert len(swept) == 2, swept  # once each, by one replica or the other
    assert sum(stuck[0] in line for line in swept) == 1


async def _dialed(ivs: InterviewStore, n: int) -> tuple[str, str]:
    """An interview dialed (Twilio took the call): (interview id, CallSid)."""
    created = await ivs.create(
        {
            "candidate_name": f"Candidate {n}",
            "phone": f"+1415555014{n}",
            "profile": "practice",
            "scheduled_at": datetime.now(UTC),
            "timezone": "UTC",
            "window_start": "00:00",
            "window_end": "23:59",
        }
    )
    [claim] = await ivs.claim_due("test", 1)
    assert claim.interview_id == created["id"]
    call_sid = f"CA{n:032d}"
    await ivs.dialed(claim, call_sid)
    return claim.interview_id, call_sid


async def _in_call(ivs: InterviewStore, store: Store, n: int) -> tuple[str, str]:
    """An interview dialed and answered, its call streaming: (interview id, CallSid)."""
    interview_id, call_sid = await _dialed(ivs, n)
    action, _context = await ivs.voice_answer(interview_id, 1, "human", False)
    assert action == "connect"
    await store.call_started(
        call_sid=call_sid, direction="outbound", started_at=datetime.now(UTC),
        from_masked=None, to_masked=None, instance="test", interview_id=interview_id,
    )  # fmt: skip
    return interview_id, call_sid


async def _keep_alive(store: Store, call_sid: str) -> None:
    while True:
        await store.call_updated(call_sid)
        await asyncio.sleep(0.2)
