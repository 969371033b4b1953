"""A Voice Live session that goes silent without closing is found in about 2 s; nothing is lost."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

from tests.call.test_reconnect import answer, caller_bytes
from tests.fakes.voicelive import FakeVoiceLive
from tests.support.bridge import bridge, wait_ended


async def test_a_session_stalling_while_the_caller_speaks_is_replaced_and_hears_all_of_it(
    tmp_path: Path,
) -> None:
    fake = FakeVoiceLive(transcribe=True, speed=math.inf)
    async with bridge(tmp_path, fake) as b:
        async with await b.call() as call:
            s1 = await b.vl.wait_for_session(1)
            await s1.wait_for(lambda: len(s1.responses) == 1 and s1.responses[0].done_at)
            await call.wait_for(lambda: call.played_ms() >= 1500, timeout=5)
            talking = asyncio.create_task(answer(call, 3000))
            await s1.wait_for(lambda: s1.sent_of("input_audio_buffer.speech_started"), timeout=3)
            await asyncio.sleep(0.3)
            s1.stall()  # mid-sentence: the service neither reads nor writes, nor closes
            assert s1.stalled_at is not None
            s2 = await b.vl.wait_for_session(2, timeout=5)
            found_s = b.vl.handshakes[-1].at - s1.stalled_at
            assert found_s < 3.0, f"found {found_s:.2f} s after the stall"
            await asyncio.wait_for(s1.closed.wait(), 5)
            assert s1.closed_at is not None and s1.closed_at - s1.stalled_at < 3.0
            await talking
            # Every caller frame since s1's last event went to s2 (the part s1 swallowed
            # too), nothing before it: s1 up to its last event, then s2, is the whole call.
            heard = s1.appended_at_send[-1]
            sent = caller_bytes(call) * 6
            await s2.wait_for(lambda: heard + len(s2.appended_audio) >= sent, timeout=3)
            assert heard + len(s2.appended_audio) == sent
            swallowed = s1.appended_audio[heard:]
            assert len(swallowed) >= 0.25 * 48000, "s1 took audio after its last event"
            assert s2.appended_audio.startswith(swallowed)
            # The new session heard the caller's words and answered them.
            await s2.wait_for(lambda: len(s2.responses) == 1 and s2.responses[0].done_at)
            took = len(swallowed) / 48
            print(f"found in {found_s:.2f} s; s1 took {took:.0f} ms after its last event")
            await call.hangup()
        record = await wait_ended(b.app_state.store, call.call_sid)
        [error] = record["errors"]
        assert error["code"] == "reconnected", record["errors"]
        assert "stalled" in error["message"] and "speech" in error["message"]
        print(error["message"])


async def test_a_session_stalling_mid_answer_is_replaced_and_the_answer_heard_again(
    tmp_path: Path,
) -> None:
    fake = FakeVoiceLive(transcribe=True, speed=1.0)  # the answer arrives as fast as it plays
    async with bridge(tmp_path, fake) as b:
        async with await b.call() as call:
            s1 = await b.vl.wait_for_session(1)
            await call.wait_for(lambda: call.played_ms() >= 300, timeout=5)
            assert s1.responses[0].done_at is None
            s1.stall()
            assert s1.stalled_at is not None
            s2 = await b.vl.wait_for_session(2, timeout=5)
            found_s = b.vl.handshakes[-1].at - s1.stalled_at
            assert found_s < 3.0, f"found {found_s:.2f} s after the stall"
            await asyncio.wait_for(s1.closed.wait(), 5)
            assert s1.closed_at is not None and s1.closed_at - s1.stalled_at < 5.0
            await s2.wait_for(lambda: s2.responses and s2.responses[0].first_delta_at, timeout=3)
            again = s2.responses[0].first_delta_at
            assert again is not None
            loop = asyncio.get_running_loop()
            await asyncio.sleep(again + 0.6 - loop.time())
            # The caller heard the old answer up to the stall (and what was queued), then a
            # pause, then the answer again.
            pauses = [g.ms for g in call.gaps(min_ms=100, across_clear=True)]
            assert len(pauses) == 1 and pauses[0] < 3000, pauses
            print(f"found in {found_s:.2f} s, the caller heard a pause of {pauses[0]:.0f} ms, "
                  f"s1 closed {s1.closed_at - s1.stalled_at:.2f} s after the stall")  # fmt: skip
            await call.hangup()
        record = await wait_ended(b.app_state.store, call.call_sid)
        [error] = record["errors"]
        assert error["code"] == "reconnected" and "response in progress" in error["message"]


async def test_a_quiet_session_is_kept_and_a_long_answer_only_probed(tmp_path: Path) -> None:
    fake = FakeVoiceLive(transcribe=True, speed=math.inf)
    async with bridge(tmp_path, fake) as b:
        async with await b.call() as call:
            s1 = await b.vl.wait_for_session(1)
            await s1.wait_for(lambda: len(s1.responses) == 1 and s1.responses[0].done_at)
            keeper = next(iter(b.app_state.services.active)).model
            await call.wait_for(lambda: call.played_ms() >= 1500 and not call.buffered_ms())
            # Nothing owed (the caller silent, no response): no probe, however long it lasts.
            await asyncio.sleep(3.0)
            assert keeper.probes == 0 and len(b.vl.sessions) == 1
            # A long answer: speech_started at its start, then nothing for 3 s. The session
            # owes us words, so it is probed; it answers the pings, so it is kept.
            await answer(call, 3000)
            await s1.wait_for(lambda: len(s1.responses) == 2, timeout=3)
            assert keeper.probes >= 1, "the session was probed while the caller spoke"
            assert len(b.vl.sessions) == 1 and not s1.closed.is_set()
            await call.hangup()
        record = await wait_ended(b.app_state.store, call.call_sid)
        assert record["errors"] == []
