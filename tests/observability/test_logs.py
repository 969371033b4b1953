"""Logs: phone numbers masked, secrets never written, JSON lines in production."""

import json
import logging

import pytest
import structlog

from bot.observability.logs import Scrubber, configure, mask_phone


def test_mask_phone_keeps_country_and_last_four() -> None:
    assert mask_phone("+14155550123") == "+1******0123"
    assert mask_phone("+447911123456") == "+44******3456"


def test_scrubber_masks_numbers_in_any_field_and_secret_keys_and_values() -> None:
    s = Scrubber(["supersecretvalue"])
    event = s(
        None,
        "info",
        {
            "event": "call from +14155550123 with supersecretvalue",
            "caller": {"from": "+1 415 555 0199"},
            "api_key": "abc",
            "auth_token": "xyz",
            "call_sid": "CA0123456789abcdef0123456789abcdef",
            "usage": {"input_tokens": 1200},
        },
    )
    assert event["event"] == "call from +1******0123 with ***"
    assert event["caller"]["from"] == "+1******0199"
    assert event["api_key"] == "***" and event["auth_token"] == "***"
    assert event["call_sid"] == "CA0123456789abcdef0123456789abcdef"
    assert event["usage"] == {"input_tokens": 1200}


def test_json_lines_carry_bound_call_context(capsys: pytest.CaptureFixture[str]) -> None:
    configure("json", "info", ["topsecret-key"])
    try:
        with structlog.contextvars.bound_contextvars(call_sid="CA1", stream_sid="MZ1"):
            structlog.get_logger("t").info("call.started", key_used="topsecret-key")
        logging.getLogger("uvicorn.error").warning("plain stdlib line +14155550123")
        lines = [json.loads(x) for x in capsys.readouterr().err.strip().splitlines()]
    finally:
        configure("console", "info")
    assert lines[0]["event"] == "call.started" and lines[0]["call_sid"] == "CA1"
    assert lines[0]["stream_sid"] == "MZ1" and lines[0]["key_used"] == "***"
    assert lines[1]["event"] == "plain stdlib line +1******0123"
    assert lines[1]["level"] == "warning"


class _Watched(dict):
    """A field value that notes when a processor (the scrubber) looks into it."""

    seen = 0

    def items(self):  # type: ignore[no-untyped-def]
        _Watched.seen += 1
        return super().items()


def test_lines_below_the_level_are_never_built(capsys: pytest.CaptureFixture[str]) -> None:
    """At info, a debug call is a no-op at the bound logger: no processor runs (issue 18)."""
    configure("json", "info")
    try:
        log = structlog.get_logger("t").bind(call_sid="CA1")
        _Watched.seen = 0
        log.debug("voicelive.event_ignored", detail=_Watched(kind="x"))
        skipped = _Watched.seen
        log.info("call.started", detail=_Watched(kind="y"))
        lines = [json.loads(x) for x in capsys.readouterr().err.strip().splitlines()]
    finally:
        configure("console", "info")
    assert skipped == 0
    assert _Watched.seen == 1 and [x["event"] for x in lines] == ["call.started"]
