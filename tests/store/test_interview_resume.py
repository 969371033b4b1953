"""Resuming on SQLite and (with TEST_DATABASE_URL) PostgreSQL: a drop written in either order
with Twilio's callback, the call-back and the code both continuing the same interview, the
earlier calls read back (turns, assessments, keys, time), the window, and the sweep."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.endreasons import EndReason
from bot.store import Store
from bot.store.interviews import InterviewStore
from tests.support.scheduling import FakeClock, database, fields, interviews_on

SID1, SID2 = "CA" + "1" * 32, "CA" + "2" * 32


@pytest.fixture(params=["sqlite", "postgresql"])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple]:
    async with database(request.param, tmp_path) as open_store:
        store = await open_store()
        clock = FakeClock()
        ivs = interviews_on(
            store, clock, max_attempts=3, backoff_s=600, resume_after_s=120, resume_window_s=3600
        )
        yield store, ivs, clock


async def talked(store: Store, clock: FakeClock, sid: str, interview_id: str, **kw: Any) -> None:
    """A call's record: two questions asked and answered, one assessed, a key, 5 minutes."""
    started = clock.now()
    await store.call_started(call_sid=sid, direction=kw.get("direction", "inbound"),
                             started_at=started, from_masked=None, to_masked=None,
                             instance="a", interview_id=interview_id)  # fmt: skip
    lines = [
        ("bot", "Tell me about a project you are proud of."),
        ("caller", "A compiler."),
        ("bot", "Describe a time you disagreed with a colleague."),
        ("caller", "Once."),
    ]
    for n, (speaker, text) in enumerate(lines):
        at = started + timedelta(seconds=30 * (n + 1))
        await store.add_turn(sid, speaker=speaker, text=text, at=at,
                             offset_ms=30_000.0 * (n + 1), interrupted=False)  # fmt: skip
    await store.add_assessment(sid, question="Q1", score=4, evidence="A compiler.",
                               at=started + timedelta(seconds=70), offset_ms=70_000.0)  # fmt: skip
    clock.advance(minutes=5)
    report = {"keys": [{"key": "repeat", "offset_ms": 40_000.0}]}
    await store.call_ended(sid, end_reason="caller_hung_up", ended_at=clock.now(), report=report)


async def get(ivs: InterviewStore, interview_id: str) -> dict[str, Any]:
    got = await ivs.get(interview_id)
    assert got is not None
    return got


async def test_a_dropped_call_in_is_called_back_or_keyed_in_and_continues(env: tuple) -> None:
    store, ivs, clock = env
    made = await ivs.create(fields())
    assert await ivs.call_in(made["id"], SID1, "a")
    started = clock.now()
    await talked(store, clock, SID1, made["id"])
    assert await ivs.call_dropped(
        made["id"], SID1, reason=EndReason.CALLER_HUNG_UP, call_started=started,
        remaining_s=300.0, inbound=True,
    )  # fmt: skip
    got = await get(ivs, made["id"])
    assert got["status"] == "retrying" and got["attempts_used"] == 0  # a drop costs no try
    assert got["next_attempt_at"] == (clock.now() + timedelta(seconds=120)).isoformat()
    [attempt] = got["attempts"]
    assert attempt["outcome"] == "dropped" and attempt["duration_s"] == 300
    # the code still works (a candidate calling straight back) ...
    assert await ivs.interview_by_code(made["code"]) is not None
    assert await ivs.claim_due("b", 1) == []  # ... and the dialer waits DIALER_RESUME_AFTER_S
    clock.advance(seconds=120)
    [claim] = await ivs.claim_due("b", 1)
    assert claim.seq == 2
    found = await ivs.resumption(made["id"], SID2)
    assert found is not None and found.call_sids == [SID1] and found.talked_s == 300.0
    [prior] = found.calls
    assert [t["speaker"] for t in prior.transcript] == ["bot", "caller", "bot", "caller"]
    assert [(a["question"], a["score"]) for a in prior.assessments] == [("Q1", 4)]
    assert prior.keys == [{"key": "repeat", "offset_ms": 40_000.0}]
    clock.advance(minutes=60)  # past RESUME_WINDOW_MIN: a new call starts over
    assert await ivs.resumption(made["id"], SID2) is None


async def dialed_and_talked(
    store: Store, ivs: InterviewStore, clock: FakeClock, sid: str, *, stream: bool = True
) -> tuple[str, Any, dict[str, str]]:
    made = await ivs.create(fields(phone=f"+1415555014{sid[-1]}"))
    [claim] = await ivs.claim_due("a", 1)
    await ivs.dialed(claim, sid)
    answered = {"CallSid": sid, "CallStatus": "in-progress", "SequenceNumber": "2"}
    await ivs.apply_callback(made["id"], claim.seq, answered)
    if stream:
        assert (await ivs.voice_answer(made["id"], claim.seq, "human", False))[0] == "connect"
    started = clock.now()
    await talked(store, clock, sid, made["id"], direction="outbound")
    done = {"CallSid": sid, "CallStatus": "completed", "SequenceNumber": "3", "CallDuration": "300"}
    await ivs.apply_callback(made["id"], claim.seq, done)  # Twilio first
    return made["id"], started, done


async def test_twilios_completed_while_the_stream_is_ours_waits_for_the_bridge(
    env: tuple,
) -> None:
    """No `completed` (and so no results webhook) for an interview about to resume."""
    store, ivs, clock = env
    dropping, started, done = await dialed_and_talked(store, ivs, clock, SID1)
    assert (await get(ivs, dropping))["status"] == "in_progress"
    assert await ivs.call_dropped(
        dropping, SID1, reason=EndReason.CALLER_HUNG_UP, call_started=started,
        remaining_s=300.0, inbound=False,
    )  # fmt: skip
    assert (await get(ivs, dropping))["status"] == "retrying"
    await ivs.apply_callback(dropping, 1, {**done, "SequenceNumber": "4"})  # a repeat
    assert (await get(ivs, dropping))["status"] == "retrying"
    # a call that ended with end_interview: the bridge's word completes it
    finished, _, _ = await dialed_and_talked(store, ivs, clock, SID2)
    assert (await get(ivs, finished))["status"] == "in_progress"
    await ivs.stream_ended(finished, SID2)
    got = await get(ivs, finished)
    assert got["status"] == "completed" and got["attempts"][0]["outcome"] == "completed"


async def test_twilios_completed_callback_before_the_drop_is_undone(env: tuple) -> None:
    store, ivs, clock = env
    interview_id, started, done = await dialed_and_talked(store, ivs, clock, SID1, stream=False)
    made = {"id": interview_id}
    assert (await get(ivs, made["id"]))["status"] == "completed"  # no stream of ours known
    assert await ivs.call_dropped(
        made["id"], SID1, reason=EndReason.TWILIO_CLOSED, call_started=started,
        remaining_s=300.0, inbound=False,
    )  # fmt: skip
    got = await get(ivs, made["id"])
    assert got["status"] == "retrying" and got["attempts"][0]["outcome"] == "dropped"
    assert got["attempts"][0]["duration_s"] == 300  # Twilio's
    await ivs.apply_callback(made["id"], 1, {**done, "SequenceNumber": "4"})  # a repeat
    assert (await get(ivs, made["id"]))["status"] == "retrying"


async def test_a_finished_interview_is_not_resumed(env: tuple) -> None:
    store, ivs, clock = env
    made = await ivs.create(fields())
    assert await ivs.call_in(made["id"], SID1, "a")
    started = clock.now()
    await talked(store, clock, SID1, made["id"])
    for reason in (EndReason.INTERVIEW_FINISHED, EndReason.TIME_LIMIT, EndReason.NO_RESPONSE):
        assert not await ivs.call_dropped(made["id"], SID1, reason=reason, call_started=started,
                                          remaining_s=300.0, inbound=True)  # fmt: skip
    await ivs.call_in_ended(made["id"], SID1, failed=False)
    assert (await get(ivs, made["id"]))["status"] == "completed"
    assert await ivs.resumption(made["id"], SID2) is None


async def test_the_sweep_resumes_a_call_whose_replica_died(env: tuple) -> None:
    store, ivs, clock = env
    made = await ivs.create(fields())
    [claim] = await ivs.claim_due("a", 1)
    await ivs.dialed(claim, SID1)
    assert (await ivs.voice_answer(made["id"], 1, "human", False))[0] == "connect"
    await store.call_started(call_sid=SID1, direction="outbound", started_at=clock.now(),
                             from_masked=None, to_masked=None, instance="dead",
                             interview_id=made["id"])  # fmt: skip
    await store.call_ended(SID1, status="interrupted", end_reason="interrupted",
                           ended_at=clock.now())  # fmt: skip
    clock.advance(minutes=6)
    assert await ivs.resolve_stuck(300, "b") == 1
    got = await get(ivs, made["id"])
    assert got["status"] == "retrying" and got["attempts"][0]["outcome"] == "dropped"
    assert got["next_attempt_at"] == (clock.now() + timedelta(seconds=120)).isoformat()
