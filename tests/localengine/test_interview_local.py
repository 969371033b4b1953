"""End to end with the local engine: the caller's `#` makes the offline interviewer move on."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import httpx

from tests.fakes.signing import twilio_signature
from tests.fakes.twilio_media import FakeTwilioCall
from tests.support import AUTH_TOKEN, make_settings, running_app
from tests.support.bridge import voice_params, wait_ended

Q1 = "Tell me about a project you are proud of and the part you played in it."
Q2 = "Describe a time you disagreed with a colleague. What happened?"


async def test_pound_skips_to_the_next_question_with_the_local_engine(tmp_path: Path) -> None:
    settings = make_settings(tmp=tmp_path)
    assert settings.voice_live_endpoint is None  # the bot starts its local engine
    async with running_app(settings) as (base, app):
        call = FakeTwilioCall(base.replace("http://", "ws://") + "/twilio/media", AUTH_TOKEN,
                              continuous=True)  # fmt: skip
        form = voice_params(call.call_sid)
        url = settings.url_for("/twilio/voice")
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            signature = twilio_signature(AUTH_TOKEN, url, form)
            answer = await client.post(
                "/twilio/voice", data=form, headers={"X-Twilio-Signature": signature}
            )
        stream = ElementTree.fromstring(answer.text).find("./Connect/Stream")
        assert stream is not None
        call.custom_parameters.update({p.get("name", ""): p.get("value", "") for p in stream})
        call.signature_url = stream.get("url", "")
        async with call:
            await call.connect()
            await call.start()
            await call.wait_for(lambda: call.played_ms() >= 1500, timeout=10, what="greeting")
            await call.send_dtmf("#")
            await call.wait_for(lambda: len(call.clears) == 1, timeout=2, what="the bot stops")
            heard = call.played_ms()
            await call.wait_for(lambda: call.played_ms() >= heard + 2000, timeout=10,
                                what="the next question")  # fmt: skip
            await call.hangup()
        record = await wait_ended(app.state.store, call.call_sid)
    bot = [(t["text"], t["interrupted"]) for t in record["transcript"] if t["speaker"] == "bot"]
    # The greeting (said word for word) was cut off; the transcript holds what was heard.
    # No question had been asked yet, so `#` moves on to the first one.
    assert bot[0][0].startswith("Hello, thanks for calling.") and bot[0][1] is True, bot
    assert Q1 not in bot[0][0]
    assert bot[1] == (Q1, False), bot
    report = record["report"]
    assert [q["asked"] for q in report["questions"]] == [True, False]
    assert report["keys"][0]["key"] == "skip"
