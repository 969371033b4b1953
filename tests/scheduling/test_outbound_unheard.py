"""A dialed candidate who never says a word: checked on, asked for a key, let go as
`no_response`, and the interview is retried (Twilio's `completed` callback does not complete it)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

from tests.scheduling.test_outbound import interview, outbound, placed, schedule, twiml
from tests.support.bridge import wait_ended


async def test_a_silent_dialed_candidate_is_ended_no_response_and_retried(tmp_path: Path) -> None:
    async with outbound(tmp_path) as (b, fake):
        profiles = b.app_state.services.profiles
        quick = dataclasses.replace(
            profiles["practice"], silence_prompt_s=1.5, silence_check_s=3.0, silence_end_s=4.5
        )
        profiles["practice"] = quick
        iv = await schedule(b)
        call = await placed(fake)
        await fake.status(call, "in-progress", at=datetime.now(UTC).replace(microsecond=0))
        await fake.amd(call, "human")
        stream = twiml(await fake.voice(call)).find("./Connect/Stream")
        assert stream is not None
        media = await b.open_stream(call.sid, stream)  # then only silence; marks echoed
        async with media:
            assert await media.wait_closed(timeout=30) == 1000, media.describe()
        record = await wait_ended(b.app_state.store, call.sid)
        assert record["end_reason"] == "no_response" and record["status"] == "completed"
        said = [t["text"] for t in record["transcript"] if t["speaker"] == "bot"]
        assert said[1:] == [quick.silence_prompt, quick.silence_check, quick.silence_goodbye]
        got = await interview(b, iv["id"])
        assert got["status"] == "retrying" and got["next_attempt_at"] is not None
        await fake.status(call, "completed", duration=20)  # Twilio's final word, after ours
        got = await interview(b, iv["id"])
        assert got["status"] == "retrying"
        [attempt] = got["attempts"]
        assert attempt["outcome"] == "no_response" and attempt["duration_s"] == 20
