"""The call record and metrics, written through whole calls with the fakes."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import httpx

from tests.fakes import audio
from tests.fakes.voicelive import FakeVoiceLive
from tests.support.bridge import bridge, wait_ended
from tests.support.interview import practice_profile

PRO = {"audio_in": 35.20, "audio_cached": 0.44, "audio_out": 70.40,
       "text_in": 4.40, "text_cached": 1.375, "text_out": 17.60}  # fmt: skip


def tone_responses(lengths: dict[int, int]) -> Any:
    def make(index: int, fmt: str) -> bytes:
        rate = audio.FORMAT_RATES[fmt]
        return audio.encode(audio.tone(400 + 150 * index, lengths.get(index, 800), rate), fmt)

    return make


def expected_usage(done_events: list[dict[str, Any]]) -> tuple[dict[str, int], float]:
    """Token sums and cost, computed here from what the fake sent (input counts incl. cached)."""
    sums = dict.fromkeys(("it", "ia", "ct", "ca", "ot", "oa"), 0)
    for event in done_events:
        u = event["response"]["usage"]
        i, o = u["input_token_details"], u["output_token_details"]
        sums["it"] += i["text_tokens"]
        sums["ia"] += i["audio_tokens"]
        sums["ct"] += i["cached_tokens_details"]["text_tokens"]
        sums["ca"] += i["cached_tokens_details"]["audio_tokens"]
        sums["ot"] += o["text_tokens"]
        sums["oa"] += o["audio_tokens"]
    cost = (
        (sums["it"] - sums["ct"]) * PRO["text_in"]
        + sums["ct"] * PRO["text_cached"]
        + sums["ot"] * PRO["text_out"]
        + (sums["ia"] - sums["ca"]) * PRO["audio_in"]
        + sums["ca"] * PRO["audio_cached"]
        + sums["oa"] * PRO["audio_out"]
    ) / 1e6
    names = (
        "input_text_tokens",
        "input_audio_tokens",
        "cached_text_tokens",
        "cached_audio_tokens",
        "output_text_tokens",
        "output_audio_tokens",
    )
    return dict(zip(names, sums.values(), strict=True)), cost


def metric(text: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.M)
    assert match, f"{name}{labels} not in /metrics"
    return float(match.group(1))


async def test_a_call_leaves_a_complete_record_and_metrics(tmp_path: Path) -> None:
    fake = FakeVoiceLive(response_audio=tone_responses({0: 1200, 1: 3000}), speed=4.0,
                         first_delta_delay_ms=50)  # fmt: skip
    async with bridge(tmp_path, fake) as b:
        store = b.app_state.store
        async with await b.call() as call:
            session = await b.vl.wait_for_session(1)
            await call.wait_for(lambda: call.played_ms() >= 1200, timeout=5)
            await call.speak(audio.ulaw_tone(1000, 300, 0.5))  # the caller answers
            await session.wait_for(lambda: len(session.responses) == 2, timeout=5)
            await call.wait_for(lambda: call.played_ms() >= 1200 + 500, timeout=5)
            await call.speak(audio.ulaw_tone(1000, 300, 0.5))  # and talks over the reply
            await call.wait_for(lambda: len(call.clears) == 1, timeout=3)
            await call.hangup()
            await session.closed.wait()
            done = session.sent_of("response.done")
        record = await wait_ended(store, call.call_sid)
        assert record["status"] == "completed" and record["end_reason"] == "caller_hung_up"
        assert record["direction"] == "inbound" and record["from"] == "+1******0142"
        assert record["turns"] == 2 and record["barge_ins"] == 1
        # Caller stops -> first bot audio: the fake's 500 ms of silence detection + 50 ms.
        assert 530 <= record["response_ms_p50"] <= 800, record["response_ms_p50"]
        assert record["response_ms_p95"] == record["response_ms_p50"]
        usage, cost = expected_usage(done)
        assert record["usage"] == {**usage, "cached_split": "reported"}
        assert usage["output_audio_tokens"] > 0
        assert math.isclose(record["cost_usd"], cost, rel_tol=1e-4)
        assert record["duration_s"] > 2
        transcript = [(t["speaker"], t["text"], t["interrupted"]) for t in record["transcript"]]
        assert transcript[:3] == [
            ("bot", " ".join(practice_profile().greeting.split()), False),  # word for word
            ("caller", "caller utterance 0", False),
            ("bot", session.responses[1].transcript_sent, True),
        ]
        async with httpx.AsyncClient(base_url=b.base) as client:
            text = (await client.get("/metrics")).text
        assert metric(text, "bot_calls_total", '{end_reason="caller_hung_up"}') == 1
        assert metric(text, "bot_barge_ins_total") == 1
        assert metric(text, "bot_response_seconds_count") == 1
        assert metric(text, "bot_active_calls") == 0
        assert (
            metric(text, "bot_voicelive_tokens_total", '{kind="output_audio"}')
            == (usage["output_audio_tokens"])
        )
        assert math.isclose(metric(text, "bot_voicelive_cost_usd_total"), cost, rel_tol=1e-4)


async def test_errors_and_a_lost_model_are_on_the_record(tmp_path: Path) -> None:
    async with bridge(tmp_path, FakeVoiceLive(energy_vad=False)) as b:
        async with await b.call() as call:
            session = await b.vl.wait_for_session(1)
            await session.wait_event("response.create")
            await session.send_error("rate_limit_exceeded", "slow down")
            await session.wait_for(lambda: session.sent_of("error"))
            b.vl.refuse_status = 403  # lost for good: the reconnect is refused
            await session.close(1011, "server error")
            await call.wait_closed(timeout=3)
        record = await wait_ended(b.app_state.store, call.call_sid)
        assert record["status"] == "failed" and record["end_reason"] == "voicelive_closed"
        codes = [e["code"] for e in record["errors"]]
        assert "rate_limit_exceeded" in codes and "close 1011" in codes
        async with httpx.AsyncClient(base_url=b.base) as client:
            text = (await client.get("/metrics")).text
        assert metric(text, "bot_voicelive_errors_total", '{code="rate_limit_exceeded"}') == 1
