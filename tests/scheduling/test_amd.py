"""Issue 14.1: a dialed candidate hears the greeting at once; asynchronous answering-machine
detection reports later, and a machine then gets the voicemail message by a REST update of the
live call, its interview ended as `answering_machine` and retried. Over real sockets with the
fake Twilio (REST, callbacks, media stream) and the fake Voice Live."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.cli import calls as calls_cli
from bot.cli import interviews as interviews_cli
from bot.endreasons import EndReason
from tests.fakes import audio
from tests.fakes.twilio_media import FakeTwilioCall
from tests.fakes.twilio_rest import FakeCall, FakeTwilioRest
from tests.fakes.voicelive import FakeVoiceLive
from tests.scheduling.test_outbound import HEADERS, interview, outbound, placed, schedule, twiml
from tests.support import ACCOUNT_SID, AUTH_TOKEN, make_settings, running_app
from tests.support.bridge import Bridge, wait_ended

HELD = {"DIALER_AMD_WAIT_S": "4"}  # the old hold's default: accepted, and it holds nothing now


async def until(predicate: Callable[[], bool], what: str, timeout: float = 5.0) -> None:  # noqa: ASYNC109
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def answered(b: Bridge, fake: FakeTwilioRest, call: FakeCall) -> FakeTwilioCall:
    """Twilio at answer (async AMD): the voice URL at once, then the stream its TwiML opens."""
    await fake.status(call, "in-progress")
    url = b.base + "/twilio/voice?" + urlsplit(call.url or "").query  # this replica
    root = twiml(await fake.voice(call, url))
    assert root.find("./Pause") is None and root.find("./Redirect") is None  # no hold
    stream = root.find("./Connect/Stream")
    assert stream is not None, "the stream must connect at once"
    return await b.open_stream(call.sid, stream)


def twilio_replaces_the_twiml(fake: FakeTwilioRest, media: FakeTwilioCall) -> None:
    """Updating a live call's TwiML ends the <Connect><Stream> it was running: `stop`."""

    async def on_update(_call: FakeCall, _form: dict[str, str]) -> None:
        await media.hangup()

    fake.on_update = on_update


async def test_the_stream_connects_at_answer_and_the_greeting_reaches_the_caller(
    tmp_path: Path,
) -> None:
    async with outbound(tmp_path, **HELD) as (b, fake):
        iv = await schedule(b)
        call = await placed(fake)
        async with await answered(b, fake, call) as media:  # no AMD verdict yet
            await media.wait_for(lambda: media.played_ms() >= 200, what="the greeting")
            assert media.events("media"), "no greeting audio reached the caller"
            await media.hangup()
        record = await wait_ended(b.app_state.store, call.sid)
        assert record["end_reason"] == EndReason.CALLER_HUNG_UP and record["answered_by"] is None
        await fake.amd(call, "human")  # later: a person, as the greeting assumed
        await fake.status(call, "completed", duration=9)
        got = await interview(b, iv["id"])
        # a person hung up before end_interview: dropped, to be called back and resumed
        assert got["status"] == "retrying" and got["attempts"][0]["outcome"] == "dropped"
        assert got["attempts"][0]["answered_by"] == "human"
        assert call.updates == []


async def test_a_machine_mid_greeting_gets_the_voicemail_message_and_a_retry(
    tmp_path: Path,
) -> None:
    async with outbound(tmp_path, DIALER_RETRY_BACKOFF_S="1", **HELD) as (b, fake):
        iv = await schedule(b)
        call = await placed(fake)
        async with await answered(b, fake, call) as media:
            await media.wait_for(lambda: media.played_ms() >= 200, what="the greeting")
            twilio_replaces_the_twiml(fake, media)
            assert (await fake.amd(call, "machine_end_beep")).status_code == 204
            await until(lambda: bool(call.updates), "the REST update")
            assert call.updates == [{"Twiml": b.app_state.services.twiml.voicemail}]
            await media.wait_closed()
        record = await wait_ended(b.app_state.store, call.sid)
        assert record["end_reason"] == EndReason.ANSWERING_MACHINE  # not caller_hung_up
        assert record["answered_by"] == "machine_end_beep"
        left = await until_voicemail_recorded(b, iv["id"])
        record = await b.app_state.store.get_call(call.sid)
        assert record["voicemail_at"] is not None and record["status"] == "completed"
        shown = calls_cli.summary(record)  # `bot calls show`
        assert "by machine_end_beep" in shown and "voicemail message left" in shown

        await fake.status(call, "completed", duration=31)  # after the message: not completed
        got = await interview(b, iv["id"])
        assert got["status"] == "retrying" and got["next_attempt_at"] is not None
        [attempt] = got["attempts"]
        assert (attempt["outcome"], attempt["answered_by"]) == ("voicemail", "machine_end_beep")
        assert attempt["voicemail_at"] == record["voicemail_at"] == left["voicemail_at"]
        shown = interviews_cli.details(got)  # `bot interviews show`
        assert "voicemail  by machine_end_beep  voicemail left" in shown
        again = await placed(fake, 2)  # retried, as for any machine
        assert again.query == {"interview": iv["id"], "attempt": "2"}


async def test_a_machine_verdict_on_another_replica_ends_the_stream_as_answering_machine(
    tmp_path: Path,
) -> None:
    """The stream is on replica A; the AMD callback reaches replica B, whose dialer updates the
    call; A learns why Twilio stopped its stream from the shared store."""
    async with two_replicas(tmp_path) as (a, b, fake):
        iv = await schedule(a)
        call = await placed(fake)
        async with await answered(a, fake, call) as media:
            await media.wait_for(lambda: media.played_ms() >= 200, what="the greeting")
            twilio_replaces_the_twiml(fake, media)
            assert (await fake.amd(call, "machine_end_silence", base=b.base)).status_code == 204
            await until(lambda: bool(call.updates), "B's REST update")
            assert "Twiml" in call.updates[0]
            await media.wait_closed()
        record = await wait_ended(a.app_state.store, call.sid)
        assert record["end_reason"] == EndReason.ANSWERING_MACHINE
        assert record["answered_by"] == "machine_end_silence"
        await fake.status(call, "completed", duration=12)
        assert (await interview(b, iv["id"]))["status"] == "retrying"


@contextlib.asynccontextmanager
async def two_replicas(tmp: Path) -> AsyncIterator[tuple[Bridge, Bridge, FakeTwilioRest]]:
    """Two bots on one database (one SQLite file), one fake Twilio, one fake Voice Live."""
    vl = FakeVoiceLive(
        response_audio=lambda i, fmt: audio.encode(
            audio.tone(400, 1200, audio.FORMAT_RATES[fmt]), fmt
        )
    )
    db = f"sqlite:///{tmp}/shared.db"
    async with vl, FakeTwilioRest(ACCOUNT_SID, AUTH_TOKEN) as fake:
        replicas = []
        async with contextlib.AsyncExitStack() as stack:
            for name in "ab":
                (tmp / name).mkdir()
                settings = make_settings(
                    None, tmp / name, VOICE_LIVE_ENDPOINT=vl.endpoint, TWILIO_API_URL=fake.url,
                    API_TOKEN=HEADERS["Authorization"].split()[1], DATABASE_URL=db,
                    DIALER_POLL_S="0.05",
                )  # fmt: skip
                base, app = await stack.enter_async_context(running_app(settings))
                replicas.append(Bridge(base, settings, vl, app.state))
            yield replicas[0], replicas[1], fake


async def test_a_machine_reported_before_the_stream_started_never_gets_an_interview(
    tmp_path: Path,
) -> None:
    async with outbound(tmp_path) as (b, fake):
        iv = await schedule(b)
        call = await placed(fake)
        await fake.status(call, "in-progress")
        assert twiml(await fake.voice(call)).find("./Connect/Stream") is not None
        await fake.amd(call, "machine_end_other")  # before Twilio opened the stream
        await until(lambda: bool(call.updates), "the REST update")
        assert call.updates[0]["Twiml"] == b.app_state.services.twiml.voicemail
        await fake.status(call, "completed", duration=25)  # the stream never opened
        got = await interview(b, iv["id"])
        assert got["status"] == "retrying"
        [attempt] = got["attempts"]
        assert attempt["outcome"] == "voicemail"
        await until_voicemail_recorded(b, iv["id"])
        assert await b.app_state.store.get_call(call.sid) is None  # no interview took place


async def until_voicemail_recorded(b: Bridge, interview_id: str) -> dict[str, Any]:
    for _ in range(250):
        [attempt] = (await interview(b, interview_id))["attempts"]
        if attempt["voicemail_at"]:
            return attempt
        await asyncio.sleep(0.02)
    raise AssertionError("the attempt never recorded when the voicemail was left")


async def test_a_machine_verdict_after_the_call_ended_corrects_the_record(
    tmp_path: Path,
) -> None:
    """The machine hung up before AMD spoke: no update (nothing to update), but the record says
    a machine, and the interview, taken for a dropped call, is retried as voicemail (not
    resumed: a machine's talk is no history)."""
    async with outbound(tmp_path) as (b, fake):
        iv = await schedule(b)
        call = await placed(fake)
        async with await answered(b, fake, call) as media:
            await media.wait_for(lambda: media.played_ms() >= 200, what="the greeting")
            await media.hangup()
        assert (await wait_ended(b.app_state.store, call.sid))["end_reason"] == "caller_hung_up"
        await fake.status(call, "completed", duration=6)
        dropped = await interview(b, iv["id"])  # taken for a candidate who dropped: resumable
        assert dropped["status"] == "retrying" and dropped["attempts"][0]["outcome"] == "dropped"
        await fake.amd(call, "machine_end_other")
        got = await interview(b, iv["id"])
        assert got["status"] == "retrying" and got["attempts"][0]["outcome"] == "voicemail"
        assert got["attempts"][0]["voicemail_at"] is None  # no message was left
        record = await b.app_state.store.get_call(call.sid)
        assert record["end_reason"] == EndReason.ANSWERING_MACHINE
        assert record["answered_by"] == "machine_end_other"
        await asyncio.sleep(0.2)
        assert call.updates == []


async def test_a_fax_mid_call_is_hung_up(tmp_path: Path) -> None:
    async with outbound(tmp_path) as (b, fake):
        iv = await schedule(b)
        call = await placed(fake)
        async with await answered(b, fake, call) as media:
            await media.wait_for(lambda: media.played_ms() >= 200, what="the greeting")
            twilio_replaces_the_twiml(fake, media)
            await fake.amd(call, "fax")
            await until(lambda: bool(call.updates), "the hang-up")
            assert call.updates == [{"Status": "completed"}]  # no message for a fax
            await media.wait_closed()
        record = await wait_ended(b.app_state.store, call.sid)
        assert (record["end_reason"], record["answered_by"]) == ("answering_machine", "fax")
        await fake.status(call, "completed", duration=4)
        got = await interview(b, iv["id"])
        assert got["status"] == "failed" and got["attempts"][0]["outcome"] == "fax"


async def test_a_human_or_unknown_verdict_mid_call_changes_nothing(tmp_path: Path) -> None:
    for verdict in ("human", "unknown"):
        (tmp_path / verdict).mkdir()
        async with outbound(tmp_path / verdict) as (b, fake):
            iv = await schedule(b)
            call = await placed(fake)
            async with await answered(b, fake, call) as media:
                await media.wait_for(lambda m=media: m.played_ms() >= 200, what="the greeting")
                assert (await fake.amd(call, verdict)).status_code == 204
                await asyncio.sleep(0.3)
                assert call.updates == [] and not media.closed  # the interview goes on
                await media.hangup()
            record = await wait_ended(b.app_state.store, call.sid)
            assert record["end_reason"] == EndReason.CALLER_HUNG_UP
            await fake.status(call, "completed", duration=40)
            got = await interview(b, iv["id"])
            # a candidate's hang-up before end_interview: dropped (resumable), not a machine
            assert got["status"] == "retrying" and got["attempts"][0]["outcome"] == "dropped"
            assert got["attempts"][0]["answered_by"] == verdict
