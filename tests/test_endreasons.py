"""End reasons: one StrEnum whose members are today's strings, wherever they are written."""

from __future__ import annotations

import json
from pathlib import Path

from bot.endreasons import CALLER_GONE, FAILED, EndReason
from bot.store import Store, database_url
from bot.store.shared import SharedState


def test_the_values_are_the_stored_strings() -> None:
    assert {r.value for r in EndReason} == {
        "caller_hung_up", "twilio_closed", "twilio_idle_timeout", "interview_finished",
        "time_limit", "drain", "error", "engine_unavailable", "voicelive_closed",
        "model_failed", "config_refused", "interrupted", "no_response", "one_way_audio",
        "answering_machine",
    }  # fmt: skip
    assert FAILED == {"error", "engine_unavailable", "voicelive_closed", "model_failed",
                      "config_refused"}  # fmt: skip
    assert CALLER_GONE == {"caller_hung_up", "twilio_closed", "twilio_idle_timeout"}
    assert not FAILED & CALLER_GONE
    assert "model_failed" in FAILED and EndReason.MODEL_FAILED in FAILED  # plain strings match
    assert EndReason.DRAIN not in FAILED | CALLER_GONE


def test_written_out_they_are_plain_strings() -> None:
    assert json.dumps({"end_reason": EndReason.TIME_LIMIT}) == '{"end_reason": "time_limit"}'
    assert f"{EndReason.DRAIN}" == str(EndReason.DRAIN) == "drain"


async def test_stored_they_read_back_as_plain_strings(tmp_path: Path) -> None:
    store = await Store.open(database_url(None, tmp_path))
    try:
        shared = SharedState(store.engine)
        await shared.record_outcome("CA1", EndReason.DRAIN, "here")
        back = await shared.outcome("CA1")
        assert back == "drain" and type(back) is str
    finally:
        await store.close()
