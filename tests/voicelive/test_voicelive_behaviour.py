"""Calls against Voice Live as its corrected reference says it behaves, over real sockets:
refused configuration, tool calls named by call_id, failed responses, usage without details."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import httpx

from bot.interview.profiles import DEFAULT_HOLDING_LINE as ONE_MOMENT
from tests.call.test_call import tones
from tests.call.test_call_record import metric
from tests.fakes.voicelive import FakeSession, FakeVoiceLive
from tests.support.bridge import bridge, wait_ended
from tests.support.interview import fixed_line


def outputs(session: FakeSession) -> dict[str, dict[str, Any]]:
    """function_call_output items the bot sent, by call_id, with the output parsed."""
    return {
        e["item"]["call_id"]: json.loads(e["item"]["output"])
        for e in session.events_of("conversation.item.create")
        if e["item"]["type"] == "function_call_output"
    }


async def test_a_refused_transcription_model_is_reported_and_the_call_goes_on(
    tmp_path: Path,
) -> None:
    fake = FakeVoiceLive(
        response_audio=tones({}, 600),
        speed=math.inf,
        energy_vad=False,
        refuse_params={"session.input_audio_transcription"},
    )
    async with bridge(tmp_path, fake) as b:
        async with await b.call() as call:
            session = await b.vl.wait_for_session(1)
            first = await session.wait_event("session.update")
            again = await session.wait_event("session.update", skip=1)
            refused = session.sent_of("error")[0]["error"]
            assert refused["event_id"] == first["event_id"]  # it answers our update
            assert "input_audio_transcription" not in again["session"]
            assert again["session"]["instructions"] == first["session"]["instructions"]
            await session.wait_for(lambda: session.sent_of("session.updated"), what="applied")
            # The call goes on: the greeting plays.
            await call.wait_for(lambda: call.played_ms() >= 500, timeout=5, what="greeting")
            async with httpx.AsyncClient(base_url=b.base) as client:
                text = (await client.get("/metrics")).text
            part = '{part="input_audio_transcription"}'
            assert metric(text, "bot_voicelive_config_refused_total", part) == 1
            await call.hangup()
        record = await wait_ended(b.app_state.store, call.call_sid)
    assert record["status"] == "completed" and record["end_reason"] == "caller_hung_up"
    errors = [e for e in record["errors"] if e["code"] == "config_refused"]
    assert len(errors) == 1 and "input_audio_transcription" in errors[0]["message"], errors


async def test_a_refused_essential_part_ends_the_call_with_the_apology(tmp_path: Path) -> None:
    fake = FakeVoiceLive(speed=math.inf, energy_vad=False, refuse_params={"session.instructions"})
    async with bridge(tmp_path, fake) as b:
        async with await b.call() as call:
            assert await call.wait_closed(timeout=5) == 1000
            session = b.vl.sessions[0]
            assert len(session.events_of("session.update")) == 1  # no retry without it
        ended = await b.post("/twilio/stream-ended", {"CallSid": call.call_sid})
        assert "<Say>" in ended.text  # the apology
        record = await wait_ended(b.app_state.store, call.call_sid)
    assert record["status"] == "failed" and record["end_reason"] == "config_refused"
    assert any("session.instructions" in e["message"] for e in record["errors"])


async def test_a_tool_call_without_a_name_on_done_ends_the_interview(tmp_path: Path) -> None:
    # end_interview announced by its item; `.done` has no name, as the API reference shows.
    fake = FakeVoiceLive(response_audio=tones({1: 1200}, 400), speed=math.inf, energy_vad=False)
    async with bridge(tmp_path, fake) as b:
        async with await b.call() as call:
            session = await b.vl.wait_for_session(1)
            await session.wait_for(lambda: session.responses and session.responses[0].done_at)
            goodbye = await session.function_calls(
                [("end_interview", '{"reason": "all questions answered"}')], text="Goodbye."
            )
            assert await call.wait_closed(timeout=8) == 1000, "end_interview hung up"
            assert call.played_ms() >= 400 + 1200 - 1, "after the goodbye had played"
            assert list(outputs(session)) == [goodbye.calls[0]["call_id"]]
            assert len(session.events_of("response.create")) == 1, "nothing asked after it"
        record = await wait_ended(b.app_state.store, call.call_sid)
    assert record["end_reason"] == "interview_finished"
    assert not [e for e in record["errors"] if "unknown tool" in e["message"]]


async def test_two_tool_calls_in_one_response_each_get_their_output(tmp_path: Path) -> None:
    fake = FakeVoiceLive(response_audio=tones({}, 400), speed=math.inf, energy_vad=False)
    async with bridge(tmp_path, fake) as b:
        async with await b.call() as call:
            session = await b.vl.wait_for_session(1)
            await session.wait_for(lambda: session.responses and session.responses[0].done_at)
            args = [json.dumps({"question": n, "score": 4, "evidence": f"answer {n}"})
                    for n in (1, 2)]  # fmt: skip
            both = await session.function_calls([("record_assessment", a) for a in args])
            await session.wait_event("response.create", skip=1)
            found = outputs(session)
            assert sorted(found) == sorted(c["call_id"] for c in both.calls)
            assert all(out.get("ok") is True for out in found.values()), found
            await asyncio.sleep(0.2)
            assert len(session.events_of("response.create")) == 2, "one new response, not two"
            await call.hangup()
        record = await wait_ended(b.app_state.store, call.call_sid)
    assert [a["evidence"] for a in record["assessments"]] == ["answer 1", "answer 2"]


async def test_a_failed_response_is_asked_again_and_the_caller_hears_audio_soon(
    tmp_path: Path,
) -> None:
    fake = FakeVoiceLive(response_audio=tones({}, 600), speed=math.inf, energy_vad=False)
    fake.fail_responses(1)  # the greeting's response fails (a rate limit)
    async with bridge(tmp_path, fake) as b:
        async with await b.call() as call:
            session = await b.vl.wait_for_session(1)
            asked = await session.wait_event("response.create")
            t0 = next(t for t, e in session.received_log if e is asked)
            await call.wait_for(lambda: call.played_ms() >= 100, timeout=3, what="audio")
            heard_at = asyncio.get_running_loop().time()
            assert heard_at - t0 < 3.0, "no more than about 3 s of unexplained silence"
            retry = session.events_of("response.create")[1]
            assert fixed_line(retry) == fixed_line(asked), "the greeting, asked again"
            assert session.responses[0].status == "failed"
            # Mid-interview, two failures in a row: "one moment" first, then the answer.
            fake.fail_responses(2)
            await call.wait_for(lambda: call.played_ms() >= 600, timeout=3)
            await session.caller_turn("My answer.")

            def after_turn() -> list[tuple[str, str | None]]:
                return [(r.status, r.pre_generated) for r in session.responses[2:]]

            # the turn's response fails, its retry fails, then "one moment", then the answer
            await session.wait_for(
                lambda: len(after_turn()) >= 4 and after_turn()[3][0] != "in_progress",
                timeout=5,
                what="recovery",
            )
            assert after_turn()[:4] == [
                ("failed", None),
                ("failed", None),
                ("completed", ONE_MOMENT),
                ("completed", None),
            ]
            await call.hangup()
        record = await wait_ended(b.app_state.store, call.call_sid)
    assert record["status"] == "completed"
    assert [e["code"] for e in record["errors"]].count("rate_limit_exceeded") == 3


async def test_a_model_that_keeps_failing_ends_the_call_as_model_failed(tmp_path: Path) -> None:
    fake = FakeVoiceLive(response_audio=tones({}, 600), speed=math.inf, energy_vad=False)
    fake.fail_responses(1000, code="server_error", error_type="server_error")
    async with bridge(tmp_path, fake) as b:
        async with await b.call() as call:
            code = await call.wait_closed(timeout=15)
            assert code == 1000 and call.played_ms() == 0
            session = b.vl.sessions[0]
            # Asked again with backoff (not in a tight loop), and "one moment" never overlapped.
            assert 5 <= len(session.events_of("response.create")) <= 20
        ended = await b.post("/twilio/stream-ended", {"CallSid": call.call_sid})
        assert "<Say>" in ended.text  # the apology
        record = await wait_ended(b.app_state.store, call.call_sid)
    assert record["status"] == "failed" and record["end_reason"] == "model_failed"
    assert 9.5 <= record["duration_s"] <= 13, record["duration_s"]


async def test_cached_tokens_without_details_are_split_and_marked_estimated(
    tmp_path: Path,
) -> None:
    fake = FakeVoiceLive(
        response_audio=tones({}, 400),
        speed=math.inf,
        energy_vad=False,
        cached_tokens=30,
        cached_details=False,
    )
    async with bridge(tmp_path, fake) as b:
        async with await b.call() as call:
            session = await b.vl.wait_for_session(1)
            await session.wait_for(lambda: session.responses and session.responses[0].done_at)
            await call.hangup()
        record = await wait_ended(b.app_state.store, call.call_sid)
    done = session.sent_of("response.done")[0]["response"]["usage"]
    assert "cached_tokens_details" not in done["input_token_details"]
    usage = record["usage"]
    cached = done["input_token_details"]["cached_tokens"]
    assert cached > 0 and usage["cached_text_tokens"] + usage["cached_audio_tokens"] == cached
    assert usage["cached_split"] == "estimated"


async def test_a_failed_closing_line_is_said_again_and_still_ends_the_call(tmp_path: Path) -> None:
    fake = FakeVoiceLive(response_audio=tones({}, 500), speed=math.inf, energy_vad=False)
    async with bridge(tmp_path, fake) as b:
        async with await b.call() as call:
            session = await b.vl.wait_for_session(1)
            await session.wait_for(lambda: session.responses and session.responses[0].done_at)
            bot_call = next(iter(b.app_state.services.active))
            fake.fail_responses(1)  # the closing line's first response fails
            started = asyncio.get_running_loop().time()
            await bot_call.wrap_up("time_limit")
            assert await call.wait_closed(timeout=8) == 1000
            took = asyncio.get_running_loop().time() - started
            closings = [r for r in session.responses if r.pre_generated == bot_call.closing]
            assert [r.status for r in closings] == ["failed", "completed"]
            assert took < 3, "ended once the retried closing line played, not at the 45 s cap"
        record = await wait_ended(b.app_state.store, call.call_sid)
    assert record["end_reason"] == "time_limit" and record["status"] == "completed"


async def test_a_key_pressed_during_a_reconnect_is_applied_after_it(tmp_path: Path) -> None:
    fake = FakeVoiceLive(response_audio=tones({}, 3000), speed=math.inf, energy_vad=False)
    async with bridge(tmp_path, fake) as b:
        async with await b.call() as call:
            s1 = await b.vl.wait_for_session(1)
            await call.wait_for(lambda: call.played_ms() >= 500, timeout=5, what="greeting")
            fake.refuse_status = 503  # the service is away for a moment
            await s1.close(1011, "internal error")
            await s1.wait_for(lambda: len(b.vl.handshakes) >= 3, timeout=5)
            await call.send_dtmf("*")  # "repeat the question", while no session takes it
            await call.wait_for(lambda: len(call.clears) == 1, timeout=2, what="bot stopped")
            fake.refuse_status = None
            s2 = await b.vl.wait_for_session(2, timeout=8)
            create = await s2.wait_event("response.create", timeout=5)
            keyed = [
                e for e in s2.events_of("conversation.item.create")
                if e["item"]["role"] == "system"
                and e["item"]["content"][0]["text"].startswith("Key *")
            ]  # fmt: skip
            assert len(keyed) == 1, "the key's message reached the new session"
            at = {id(e): t for t, e in s2.received_log}
            assert at[id(keyed[0])] <= at[id(create)], "before the response it asks for"
            assert len(s2.events_of("response.create")) == 1
            await call.hangup()
        record = await wait_ended(b.app_state.store, call.call_sid)
    assert [k["key"] for k in record["report"]["keys"]] == ["repeat"]


async def test_a_full_outbound_queue_is_one_warning_per_response(tmp_path: Path) -> None:
    from structlog.testing import capture_logs

    fake = FakeVoiceLive(response_audio=tones({}, 3000), speed=math.inf, energy_vad=False)
    async with bridge(tmp_path, fake) as b:
        with capture_logs() as logs:
            async with await b.call() as call:
                session = await b.vl.wait_for_session(1)
                active = b.app_state.services.active
                await session.wait_for(lambda: bool(active), what="the call runs")
                next(iter(active)).core.playout.max_bytes = 8 * 1000  # room for 1 s of audio only
                await session.wait_for(lambda: session.responses and session.responses[0].done_at)
                await asyncio.sleep(0.1)
                await call.hangup()
            await wait_ended(b.app_state.store, call.call_sid)
            await asyncio.sleep(0.1)  # the call.ended line follows the record
    full = [e for e in logs if e["event"] == "call.outbound_queue_full"]
    assert len(full) == 1 and full[0]["log_level"] == "warning", full
    assert full[0]["response_id"] == session.responses[0].id and full[0]["queued_s"] <= 1.0
    ended = next(e for e in logs if e["event"] == "call.ended")
    assert ended["overflowed_deltas"] > 1  # every dropped delta counted, one line logged


async def test_the_holding_line_is_the_profiles_own(tmp_path: Path) -> None:
    import dataclasses

    from tests.support.interview import practice_profile

    fake = FakeVoiceLive(response_audio=tones({}, 400), speed=math.inf, energy_vad=False)
    async with bridge(tmp_path, fake) as b:
        profile = dataclasses.replace(practice_profile(), holding_line="Einen Moment, bitte.")
        b.app_state.services.profiles["practice"] = profile
        async with await b.call() as call:
            session = await b.vl.wait_for_session(1)
            await session.wait_for(lambda: session.responses and session.responses[0].done_at)
            fake.fail_responses(2)
            await session.caller_turn("Ja.")
            await session.wait_for(
                lambda: any(r.pre_generated == "Einen Moment, bitte." for r in session.responses),
                timeout=4,
                what="the profile's holding line",
            )
            await call.hangup()
