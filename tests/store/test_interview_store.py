"""InterviewStore on SQLite and (with TEST_DATABASE_URL) PostgreSQL: claims, retries, windows,
callbacks in any order, voicemail, REST errors, crash recovery and the interview directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.interview.schedule import InvalidField
from bot.store.interviews import Claim, Conflict, InterviewStore
from tests.support.scheduling import T0, FakeClock, database, fields, interviews_on

SID = "CA" + "1" * 32


@pytest.fixture(params=["sqlite", "postgresql"])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple]:
    async with database(request.param, tmp_path) as open_store:
        store = await open_store()
        clock = FakeClock()
        yield store, interviews_on(store, clock, max_attempts=3, backoff_s=600), clock


async def claim_one(ivs: InterviewStore) -> Claim:
    [claim] = await ivs.claim_due("test", 1)
    return claim


async def status(ivs: InterviewStore, interview_id: str) -> tuple[str, str | None]:
    got = await ivs.get(interview_id)
    assert got is not None
    return got["status"], got["next_attempt_at"]


async def test_create_shape_code_and_directory(env: tuple) -> None:
    _, ivs, clock = env
    first = await ivs.create(fields(role="Backend engineer"))
    second = await ivs.create(fields())
    assert first["id"].startswith("iv_") and first["id"] != second["id"]
    assert len(first["code"]) == 6 and first["code"].isdigit() and first["code"] != second["code"]
    assert first["status"] == "scheduled" and first["attempts"] == []
    assert (first["window_start"], first["window_end"]) == ("09:00", "20:00")
    assert first["scheduled_at"] == T0.isoformat() and first["phone"] == "+14155550142"
    listed = await ivs.list()
    assert {i["id"] for i in listed} == {first["id"], second["id"]}
    assert "attempts" not in listed[0]

    context = await ivs.interview_by_id(first["id"])
    assert context is not None
    assert (context.interview_id, context.candidate_name, context.profile, context.role) == (
        first["id"],
        "Ada Lovelace",
        "practice",
        "Backend engineer",
    )
    assert await ivs.interview_by_id("iv_0000000000000000") is None
    # the code: valid from 15 minutes before the time, while the interview is open
    clock.advance(minutes=-16)
    assert await ivs.interview_by_code(first["code"]) is None
    clock.advance(minutes=2)
    assert (await ivs.interview_by_code(first["code"])).interview_id == first["id"]  # type: ignore[union-attr]
    assert await ivs.interview_by_code("12345") is None
    await ivs.cancel(first["id"])
    assert await ivs.interview_by_code(first["code"]) is None


async def test_schedule_rules_name_the_field(env: tuple) -> None:
    _, ivs, _ = env
    cases = [
        (fields(scheduled_at="2026-11-24T22:00:00-05:00"), "scheduled_at", "outside"),
        (fields(window_start="18:00", window_end="08:00"), "window_end", "later"),
        (fields(scheduled_at="2026-11-20T15:00:00Z"), "scheduled_at", "past"),
    ]
    for body, name, words in cases:
        with pytest.raises(InvalidField, match=words) as caught:
            await ivs.create(body)
        assert caught.value.field == name
    assert await ivs.list() == []


async def test_claim_once_and_attempt_recorded_first(env: tuple) -> None:
    _, ivs, clock = env
    early = await ivs.create(fields(scheduled_at=(T0 + timedelta(minutes=5)).isoformat()))
    due = await ivs.create(fields())
    claim = await claim_one(ivs)
    assert claim.interview_id == due["id"] and claim.seq == 1
    assert await ivs.claim_due("other", 5) == []  # nothing else is due yet; nobody claims twice
    got = await ivs.get(due["id"])
    assert got is not None and got["status"] == "dialing"
    [attempt] = got["attempts"]
    assert (attempt["outcome"], attempt["call_sid"], attempt["at"]) == (
        "dialing",
        None,
        T0.isoformat(),
    )
    await ivs.dialed(claim, SID)
    got = await ivs.get(due["id"])
    assert got is not None and got["attempts"][0]["call_sid"] == SID
    assert got["attempts"][0]["outcome"] == "queued"
    clock.advance(minutes=5)
    assert [c.interview_id for c in await ivs.claim_due("test", 5)] == [early["id"]]


async def test_due_outside_the_window_waits_for_it(env: tuple) -> None:
    _, ivs, clock = env
    late = await ivs.create(fields(scheduled_at="2026-11-24T19:55:00-05:00"))
    clock.t = T0.replace(hour=1, minute=30) + timedelta(days=1)  # 20:30 NY: the dialer was down
    assert await ivs.claim_due("test", 1) == []
    assert await status(ivs, late["id"]) == ("scheduled", "2026-11-25T14:00:00+00:00")  # 09:00


async def test_retries_back_off_inside_the_window_then_fail(env: tuple) -> None:
    _, ivs, clock = env
    iv = await ivs.create(fields(scheduled_at="2026-11-24T19:40:00-05:00"))
    clock.t = T0.replace(hour=0, minute=40) + timedelta(days=1)  # 19:40 NY
    claim = await claim_one(ivs)
    await ivs.dialed(claim, SID)
    await ivs.apply_callback(
        iv["id"], 1, {"CallSid": SID, "CallStatus": "busy", "SequenceNumber": "2"}
    )
    # 10 minutes later is 19:50: inside the window
    assert await status(ivs, iv["id"]) == ("retrying", "2026-11-25T00:50:00+00:00")
    clock.advance(minutes=10)
    claim = await claim_one(ivs)
    assert claim.seq == 2
    await ivs.apply_callback(
        iv["id"], 2, {"CallSid": "CA2", "CallStatus": "no-answer", "SequenceNumber": "2"}
    )
    # 20 more minutes would be 20:10: the window has closed, so 09:00 the next morning
    assert await status(ivs, iv["id"]) == ("retrying", "2026-11-25T14:00:00+00:00")
    clock.advance(minutes=30)
    assert await ivs.claim_due("test", 1) == []
    clock.t = T0.replace(hour=14) + timedelta(days=1)
    claim = await claim_one(ivs)
    await ivs.dial_failed(claim, http_status=503, code=20503, message="Service Unavailable")
    got = await ivs.get(iv["id"])
    assert got is not None and (got["status"], got["next_attempt_at"]) == ("failed", None)
    assert [a["outcome"] for a in got["attempts"]] == ["busy", "no-answer", "transient_error"]
    assert got["attempts"][2]["error"] == {
        "code": "20503",
        "message": "Service Unavailable",
        "http_status": 503,
    }


async def test_permanent_rest_error_stops(env: tuple) -> None:
    _, ivs, _ = env
    iv = await ivs.create(fields())
    claim = await claim_one(ivs)
    outcome = await ivs.dial_failed(
        claim, http_status=400, code=21211, message="Invalid 'To' Phone Number"
    )
    assert outcome == "rejected"
    got = await ivs.get(iv["id"])
    assert got is not None and got["status"] == "failed"
    assert got["attempts"][0]["error"]["code"] == "21211"


async def test_transient_error_retries(env: tuple) -> None:
    _, ivs, _ = env
    iv = await ivs.create(fields())
    claim = await claim_one(ivs)
    await ivs.dial_failed(claim, http_status=429, code=20429, message="Too Many Requests")
    assert await status(ivs, iv["id"]) == ("retrying", (T0 + timedelta(minutes=10)).isoformat())


async def test_out_of_order_callbacks(env: tuple) -> None:
    _, ivs, _ = env
    iv = await ivs.create(fields())
    claim = await claim_one(ivs)
    at = "Tue, 24 Nov 2026 15:00:{:02d} +0000"
    # completed (3) first, then answered (2), ringing (1), initiated (0); the dial result last
    for number, call_status in (
        (3, "completed"),
        (2, "in-progress"),
        (1, "ringing"),
        (0, "initiated"),
    ):
        form = {
            "CallSid": SID,
            "CallStatus": call_status,
            "SequenceNumber": str(number),
            "Timestamp": at.format(10 * number),
        }
        if call_status == "completed":
            form["CallDuration"] = "95"
        result = await ivs.apply_callback(iv["id"], 1, form)
        assert result is not None and result.outcome == "completed"
    await ivs.dialed(claim, SID)
    got = await ivs.get(iv["id"])
    assert got is not None and got["status"] == "completed"
    [attempt] = got["attempts"]
    assert attempt["call_status"] == "completed" and attempt["outcome"] == "completed"
    assert attempt["answered_at"] == "2026-11-24T15:00:20+00:00"
    assert attempt["ended_at"] == "2026-11-24T15:00:30+00:00" and attempt["duration_s"] == 95
    assert await ivs.apply_callback(iv["id"], 7, {"CallStatus": "busy"}) is None  # no attempt 7


async def test_answered_before_completed_and_answer_time_reaches_the_call_log(env: tuple) -> None:
    store, ivs, _ = env
    iv = await ivs.create(fields())
    await ivs.dialed(await claim_one(ivs), SID)
    answered = {
        "CallSid": SID,
        "CallStatus": "in-progress",
        "SequenceNumber": "2",
        "Timestamp": "Tue, 24 Nov 2026 15:00:07 +0000",
    }
    await ivs.apply_callback(iv["id"], 1, answered)
    assert (await status(ivs, iv["id"]))[0] == "in_progress"
    late = {"CallSid": SID, "CallStatus": "ringing", "SequenceNumber": "1"}
    await ivs.apply_callback(iv["id"], 1, late)
    assert (await ivs.get(iv["id"]))["attempts"][0]["call_status"] == "in-progress"  # type: ignore[index]
    # the stream starts after the callback: the call record copies the answer time
    await store.call_started(
        call_sid=SID,
        direction="outbound",
        started_at=T0,
        from_masked=None,
        to_masked=None,
        instance="t",
    )
    await store.copy_answered_at(SID)
    assert (await store.get_call(SID))["answered_at"] == "2026-11-24T15:00:07+00:00"  # type: ignore[index]


async def test_voicemail_reschedules_and_asks_for_the_message(env: tuple) -> None:
    _, ivs, _ = env
    iv = await ivs.create(fields())
    await ivs.dialed(await claim_one(ivs), SID)
    action, context = await ivs.voice_answer(iv["id"], 1, None, amd_pending=True)
    assert (action, context) == ("wait", None)
    action, context = await ivs.voice_answer(iv["id"], 1, None, amd_pending=False)
    assert action == "connect" and context is not None and context.interview_id == iv["id"]
    result = await ivs.apply_callback(
        iv["id"], 1, {"CallSid": SID, "AnsweredBy": "machine_end_beep"}
    )
    assert result is not None and result.outcome == "voicemail" and result.leave_voicemail
    assert await status(ivs, iv["id"]) == ("retrying", (T0 + timedelta(minutes=10)).isoformat())
    done = await ivs.apply_callback(
        iv["id"], 1, {"CallSid": SID, "CallStatus": "completed", "SequenceNumber": "3"}
    )
    assert done is not None and done.outcome == "voicemail" and not done.leave_voicemail
    assert (await status(ivs, iv["id"]))[0] == "retrying"


async def test_machine_known_at_the_webhook_gets_voicemail_never_the_interview(env: tuple) -> None:
    _, ivs, _ = env
    iv = await ivs.create(fields())
    await ivs.dialed(await claim_one(ivs), SID)
    await ivs.apply_callback(iv["id"], 1, {"CallSid": SID, "AnsweredBy": "machine_end_silence"})
    action, context = await ivs.voice_answer(iv["id"], 1, None, amd_pending=True)
    assert (action, context) == ("voicemail", None)


async def test_killed_between_claim_and_dial_is_recovered_once(env: tuple) -> None:
    _, ivs, clock = env
    iv = await ivs.create(fields())
    await claim_one(ivs)  # … and the dialer dies here, before any request to Twilio
    assert await ivs.recover_stale(300) == 0  # too early to tell
    clock.advance(seconds=301)
    assert await ivs.recover_stale(300) == 1
    assert await ivs.recover_stale(300) == 0
    got = await ivs.get(iv["id"])
    assert got is not None and got["status"] == "retrying" and got["attempts_used"] == 0
    assert got["attempts"][0]["outcome"] == "not_placed"
    assert (await claim_one(ivs)).seq == 2


async def test_a_claim_twilio_reported_on_is_never_recovered(env: tuple) -> None:
    _, ivs, clock = env
    iv = await ivs.create(fields())
    await claim_one(ivs)  # Twilio placed it, but the dialer died before storing the CallSid
    await ivs.apply_callback(
        iv["id"], 1, {"CallSid": SID, "CallStatus": "initiated", "SequenceNumber": "0"}
    )
    clock.advance(hours=1)
    assert await ivs.recover_stale(300) == 0
    assert await ivs.claim_due("test", 1) == []
    got = await ivs.get(iv["id"])
    assert got is not None and got["attempts"][0]["call_sid"] == SID


async def test_reschedule_and_cancel(env: tuple) -> None:
    _, ivs, _ = env
    iv = await ivs.create(fields())
    later = (T0 + timedelta(hours=2)).isoformat()
    moved = await ivs.reschedule(iv["id"], fields(scheduled_at=later))
    assert moved["scheduled_at"] == later and moved["status"] == "scheduled"
    assert await ivs.claim_due("test", 1) == []
    cancelled = await ivs.cancel(iv["id"])
    assert cancelled["status"] == "cancelled"
    assert (await ivs.cancel(iv["id"]))["status"] == "cancelled"  # twice is fine
    with pytest.raises(Conflict):
        await ivs.reschedule(iv["id"], fields())
    busy = await ivs.create(fields())
    await claim_one(ivs)
    for change in (ivs.cancel(busy["id"]), ivs.reschedule(busy["id"], fields())):
        with pytest.raises(Conflict, match="dialing"):
            await change


async def test_a_candidate_calling_in_takes_the_interview_once(env: tuple) -> None:
    _, ivs, clock = env
    made = await ivs.create(fields())
    clock.advance(minutes=-5)  # they call a little early: the code already works
    assert await ivs.call_in(made["id"], SID, "test")
    assert not await ivs.call_in(made["id"], "CA" + "2" * 32, "test")  # a second caller loses
    assert await status(ivs, made["id"]) == ("in_progress", None)
    clock.advance(minutes=10)
    assert await ivs.claim_due("test", 5) == []  # the dialer does not call her as well
    await ivs.call_in_ended(made["id"], SID, failed=False)
    got = await ivs.get(made["id"])
    assert got is not None and got["status"] == "completed"
    [attempt] = got["attempts"]
    assert attempt["call_sid"] == SID and attempt["outcome"] == "completed"


async def test_a_call_in_that_fails_on_our_side_is_retried_by_the_dialer(env: tuple) -> None:
    _, ivs, _ = env
    made = await ivs.create(fields())
    assert await ivs.call_in(made["id"], SID, "test")
    await ivs.call_in_ended(made["id"], SID, failed=True)
    state, next_at = await status(ivs, made["id"])
    assert state == "retrying" and next_at is not None
    got = await ivs.get(made["id"])
    assert got is not None and got["attempts"][0]["outcome"] == "transient_error"
    await ivs.call_in_ended(made["id"], SID, failed=False)  # a repeat changes nothing
    assert (await status(ivs, made["id"]))[0] == "retrying"
