"""InterviewStore: an interview whose call ended with the candidate unheard is retried, and
Twilio's later `completed` callback does not complete it (SQLite and PostgreSQL)."""

from __future__ import annotations

from tests.store.test_interview_store import SID, claim_one, env, status  # noqa: F401
from tests.support.scheduling import fields


async def test_a_dialed_call_with_no_response_is_retried(env: tuple) -> None:  # noqa: F811
    _, ivs, _ = env
    iv = await ivs.create(fields())
    await ivs.dialed(await claim_one(ivs), SID)
    answered = {"CallSid": SID, "CallStatus": "in-progress", "SequenceNumber": "2"}
    await ivs.apply_callback(iv["id"], 1, answered)
    await ivs.call_unheard(iv["id"], SID, "no_response", inbound=False)
    state, next_at = await status(ivs, iv["id"])
    assert state == "retrying" and next_at is not None
    done = {"CallSid": SID, "CallStatus": "completed", "SequenceNumber": "3", "CallDuration": "40"}
    await ivs.apply_callback(iv["id"], 1, done)  # Twilio's final word comes after ours
    got = await ivs.get(iv["id"])
    assert got is not None and got["status"] == "retrying"
    [attempt] = got["attempts"]
    assert attempt["outcome"] == "no_response" and attempt["call_status"] == "completed"
    assert attempt["duration_s"] == 40


async def test_twilio_first_then_one_way_audio_retries(env: tuple) -> None:  # noqa: F811
    _, ivs, _ = env
    iv = await ivs.create(fields())
    await ivs.dialed(await claim_one(ivs), SID)
    done = {"CallSid": SID, "CallStatus": "completed", "SequenceNumber": "3"}
    await ivs.apply_callback(iv["id"], 1, done)
    assert (await status(ivs, iv["id"]))[0] == "completed"
    await ivs.call_unheard(iv["id"], SID, "one_way_audio", inbound=False)
    assert (await status(ivs, iv["id"]))[0] == "retrying"


async def test_a_call_in_with_no_response_is_retried(env: tuple) -> None:  # noqa: F811
    _, ivs, _ = env
    made = await ivs.create(fields())
    assert await ivs.call_in(made["id"], SID, "test")
    await ivs.call_unheard(made["id"], SID, "no_response", inbound=True)
    got = await ivs.get(made["id"])
    assert got is not None and got["status"] == "retrying"
    assert got["attempts"][0]["outcome"] == "no_response"
    assert got["attempts"][0]["ended_at"] is not None
    await ivs.call_unheard(made["id"], SID, "no_response", inbound=True)  # twice: no change
    assert (await status(ivs, made["id"]))[0] == "retrying"
