"""A dropped interview resumes, over real sockets with the fakes: the candidate hangs up after
question 2; the dialer calls back after DIALER_RESUME_AFTER_S (or the candidate keys the code
in again); the new Voice Live session gets the history (turns, assessment, key), the time
already talked and question 3 as the next one, hears the resume greeting word for word, and
the interview has one report across both calls."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.interview.profiles import DEFAULT_RESUME_GREETING
from tests.fakes import audio
from tests.fakes.twilio_media import FakeTwilioCall
from tests.fakes.twilio_rest import FakeTwilioRest
from tests.fakes.voicelive import FakeSession, FakeVoiceLive
from tests.http.test_gate import enter
from tests.scheduling.test_outbound import interview, placed, schedule, twiml
from tests.support import ACCOUNT_SID, AUTH_TOKEN
from tests.support.bridge import Bridge, bridge, stream_parameters, voice_params, wait_ended
from tests.support.interview import fixed_line

Q = [
    "Tell me about a project you are proud of and the part you played in it.",
    "Describe a time you disagreed with a colleague. What happened?",
    "How do you test a change before it reaches production?",
    "What would you like to learn next, and why?",
]
GREETING = "Hello Ada, this is your interview with Acme. Are you ready?"
PROFILE = f'''role = "backend engineer"
company = "Acme"
duration_min = 10
greeting = "{GREETING}"
closing = "Thank you for your time today. Goodbye."
{
    "".join(
        f'[[questions]]{chr(10)}text = "{q}"{chr(10)}good_answer = "specific"{chr(10)}' for q in Q
    )
}
[rubric]
1 = "no relevant example"
5 = "a clear, specific example"
'''
# What the fake model says, by response index within each session (0: the fixed greeting).
FIRST_CALL = {1: Q[0], 2: "Sure. " + Q[0], 3: "Thank you. " + Q[1], 5: "Noted.",
              6: "Thank you for that example."}  # fmt: skip
SECOND_CALL = {1: "Let's go on. " + Q[2]}
TALKED_S = 240.0  # what the first call's record says it lasted


def tone(fmt: str) -> Any:
    return audio.tone(400, 300, audio.FORMAT_RATES[fmt])


@contextlib.asynccontextmanager
async def resumable(
    tmp_path: Path, **env: str
) -> AsyncIterator[tuple[Bridge, FakeTwilioRest, dict]]:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    shutil.copy(Path(__file__).parents[2] / "profiles" / "practice.toml", profiles)
    (profiles / "acme.toml").write_text(PROFILE)
    said: dict[int, str] = dict(FIRST_CALL)
    vl = FakeVoiceLive(
        response_audio=lambda i, fmt: audio.encode(tone(fmt), fmt),
        response_text=lambda i: said.get(i, f"Response {i}."),
        energy_vad=False,
    )
    async with (
        FakeTwilioRest(ACCOUNT_SID, AUTH_TOKEN) as fake,
        bridge(tmp_path, vl, TWILIO_API_URL=fake.url, API_TOKEN="api-token-for-tests-0123456789",
               DIALER_POLL_S="0.05", PROFILES_DIR=str(profiles), **env) as b,
    ):  # fmt: skip
        yield b, fake, said


async def answered(session: FakeSession, media: FakeTwilioCall, n: int) -> None:
    """Response n is done and the caller heard all of it."""
    await session.wait_for(
        lambda: len(session.responses) > n and session.responses[n].done_at is not None,
        what=f"response {n}",
    )
    await asyncio.sleep(0.1)
    await media.wait_for(lambda: media.buffered_ms() <= 0, timeout=5, what="played out")


async def first_call(session: FakeSession, media: FakeTwilioCall) -> None:
    """Greeting, question 1 (asked again after *), the answer, its assessment, question 2 and
    its answer; then the candidate's line goes dead."""
    await answered(session, media, 0)
    await session.caller_turn("Hello, I am ready.")
    await answered(session, media, 1)
    await media.send_dtmf("*")
    await answered(session, media, 2)
    await session.caller_turn("A compiler I wrote.")
    await answered(session, media, 3)
    args = {"question": 1, "score": 4, "evidence": "A compiler I wrote."}
    await session.function_calls([("record_assessment", json.dumps(args))])
    await answered(session, media, 5)
    await session.caller_turn("We disagreed about tests.")
    await answered(session, media, 6)
    await media.hangup()


def before_first_response(session: FakeSession) -> list[tuple[str, str]]:
    """(role, text) of every message item the session got before its first response.create."""
    out = []
    for _, event in session.received_log:
        if event["type"] == "response.create":
            break
        if event["type"] == "conversation.item.create" and event["item"]["type"] == "message":
            item = event["item"]
            out.append((item["role"], "".join(p.get("text", "") for p in item["content"])))
    return out


async def second_call(b: Bridge, session: FakeSession, media: FakeTwilioCall) -> None:
    """The new session got the history, the time and question 3; it is greeted back and goes on."""
    first = await session.wait_event("response.create")
    got = before_first_response(session)
    assert ("assistant", Q[0]) in got and ("assistant", "Thank you. " + Q[1]) in got
    assert ("user", "A compiler I wrote.") in got and ("user", "We disagreed about tests.") in got
    assert ("system", "Assessment recorded: question 1, score 4.") in got
    assert any(role == "system" and "pressed *" in text for role, text in got)
    [note] = [text for role, text in got if role == "system" and "dropped" in text]
    assert "question 3" in note and Q[2] in note
    assert (
        "system",
        "Time check: about 4 minutes of this about 10 minutes interview have passed; "
        "about 6 minutes remain. Pace the remaining questions to fit.",
    ) in got
    assert fixed_line(first) == DEFAULT_RESUME_GREETING  # word for word, not the greeting
    await answered(session, media, 0)
    go_on = await session.wait_event("response.create", skip=1)  # the model continues
    assert fixed_line(go_on) == ""
    await answered(session, media, 1)
    assert all(fixed_line(e) != GREETING for e in session.events_of("response.create"))
    await media.hangup()


async def one_report(b: Bridge, sid1: str, sid2: str) -> None:
    store = b.app_state.store
    first, second = await wait_ended(store, sid1), await wait_ended(store, sid2)
    report = second["report"]
    assert report["calls"] == [sid1, sid2]
    asked = {q["number"]: q["asked"] for q in report["questions"]}
    assert asked == {1: True, 2: True, 3: True, 4: False}
    assert [(a["number"], a["score"], a["call_sid"]) for a in report["assessments"]] == [
        (1, 4, sid1)
    ]
    assert [(k["key"], k["call_sid"]) for k in report["keys"]] == [("repeat", sid1)]
    texts = [(t.get("call_sid"), t["text"]) for t in report["transcript"]]
    assert (sid1, "A compiler I wrote.") in texts and (None, DEFAULT_RESUME_GREETING) in texts
    # each call's own record keeps its own turns
    assert "A compiler I wrote." in [t["text"] for t in first["transcript"]]
    assert [t["text"] for t in second["transcript"]] == [DEFAULT_RESUME_GREETING, SECOND_CALL[1]]


async def dialed(b: Bridge, fake: FakeTwilioRest, n: int) -> tuple[Any, FakeTwilioCall]:
    call = await placed(fake, n)
    for status in ("initiated", "ringing", "in-progress"):
        await fake.status(call, status)
    await fake.amd(call, "human")
    stream = twiml(await fake.voice(call)).find("./Connect/Stream")
    assert stream is not None
    return call, await b.open_stream(call.sid, stream)


async def test_a_dropped_call_is_called_back_and_goes_on_at_question_3(tmp_path: Path) -> None:
    async with resumable(tmp_path, DIALER_RESUME_AFTER_S="1") as (b, fake, said):
        iv = await schedule(b, profile="acme")
        call1, media1 = await dialed(b, fake, 1)
        async with media1:
            await first_call(await b.vl.wait_for_session(1), media1)
        await wait_ended(b.app_state.store, call1.sid)
        await fake.status(call1, "completed", duration=30)
        got = await interview(b, iv["id"])
        assert got["status"] == "retrying" and got["attempts"][0]["outcome"] == "dropped"
        assert datetime.fromisoformat(got["next_attempt_at"]) <= datetime.now(UTC) + timedelta(
            seconds=1
        )  # DIALER_RESUME_AFTER_S, not the 10-minute retry
        await b.app_state.store.call_updated(call1.sid, duration_s=TALKED_S)
        said.clear()
        said.update(SECOND_CALL)
        call2, media2 = await dialed(b, fake, 2)
        async with media2:
            await second_call(b, await b.vl.wait_for_session(2), media2)
        await one_report(b, call1.sid, call2.sid)
        attempts = (await interview(b, iv["id"]))["attempts"]
        assert [a["call_sid"] for a in attempts] == [call1.sid, call2.sid]


async def test_a_dropped_call_in_goes_on_when_the_candidate_keys_the_code_again(
    tmp_path: Path,
) -> None:
    soon = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()  # the code works already
    async with resumable(tmp_path, INBOUND_REQUIRE_CODE="true", DIALER_RESUME_AFTER_S="600") as (
        b,
        fake,
        said,
    ):
        iv = await schedule(b, profile="acme", scheduled_at=soon)
        sids = []
        for n, run in ((1, first_call), (2, None)):
            sid = f"CA{n:032d}"
            sids.append(sid)
            await b.post("/twilio/voice", voice_params(sid))
            stream = (await enter(b, sid, 1, iv["code"])).find("./Connect/Stream")
            assert stream is not None, "the code opens the same interview"
            assert stream_parameters(stream)["interview_id"] == iv["id"]
            media = await b.open_stream(sid, stream)
            async with media:
                session = await b.vl.wait_for_session(n)
                if run is not None:
                    await run(session, media)
                else:
                    await second_call(b, session, media)
            await wait_ended(b.app_state.store, sid)
            if n == 1:
                got = await interview(b, iv["id"])
                assert got["status"] == "retrying" and got["attempts_used"] == 0
                await b.app_state.store.call_updated(sid, duration_s=TALKED_S)
                said.clear()
                said.update(SECOND_CALL)
        await one_report(b, *sids)
        assert fake.calls == []  # the dialer waited: the candidate came back first
