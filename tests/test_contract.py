"""The contract checker itself (tests/contract): the vendors' models, strictly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from bot.http.gate import ask_twiml
from bot.twilio.twiml import APOLOGY, BUILT_IN, VOICEMAIL, connect_twiml, hangup_twiml, wait_twiml
from tests import contract
from tests.contract.twilio import rest_errors, rest_form, twiml_errors
from tests.contract.voicelive import (
    check_client_event,
    client_event_errors,
    server_event_errors,
)
from tests.fakes.voicelive import FakeVoiceLive

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[1]

SESSION_UPDATE: dict[str, Any] = {
    "type": "session.update",
    "event_id": "evt_1",
    "session": {
        "modalities": ["text", "audio"],
        "instructions": "Be brief.",
        "voice": {"type": "azure-standard", "name": "en-US-AvaNeural"},
        "input_audio_format": "g711_ulaw",
        "output_audio_format": "g711_ulaw",
        "input_audio_sampling_rate": 8000,
        "turn_detection": {"type": "azure_semantic_vad", "threshold": 0.5, "create_response": True},
        "input_audio_noise_reduction": {"type": "azure_deep_noise_suppression"},
        "input_audio_echo_cancellation": {"type": "server_echo_cancellation"},
        "input_audio_transcription": {"model": "gpt-4o-transcribe", "language": "en"},
        "tools": [{"type": "function", "name": "end_interview", "parameters": {}}],
        "tool_choice": "auto",
        "temperature": 0.8,
        "max_response_output_tokens": "inf",
    },
}


def _with(event: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of event with one dotted path set."""
    copy = json.loads(json.dumps(event))
    *parents, last = path.split(".")
    node = copy
    for key in parents:
        node = node[key]
    node[last] = value
    return copy


def test_a_valid_session_update_passes() -> None:
    assert client_event_errors(SESSION_UPDATE) == []


def test_an_unknown_field_fails_naming_its_path() -> None:
    errors = client_event_errors(_with(SESSION_UPDATE, "session.turn_detection.eagerness", 1))
    assert errors == [
        "session.turn_detection.eagerness: unknown field (not in the SDK's AzureSemanticVad)"
    ]


def test_a_wrong_type_fails_naming_its_path() -> None:
    errors = client_event_errors(_with(SESSION_UPDATE, "session.temperature", "warm"))
    assert len(errors) == 1 and errors[0].startswith("session.temperature: expected float")
    errors = client_event_errors(_with(SESSION_UPDATE, "session.modalities", "audio"))
    assert len(errors) == 1 and errors[0].startswith("session.modalities: expected list")


def test_a_wrong_discriminator_fails_naming_its_path() -> None:
    errors = client_event_errors(_with(SESSION_UPDATE, "session.turn_detection.type", "vad"))
    assert len(errors) == 1
    assert errors[0].startswith("session.turn_detection.type: 'vad' is not a known TurnDetection")
    errors = client_event_errors({"type": "response.make"})
    assert len(errors) == 1 and errors[0].startswith("type: 'response.make' is not a known")


def test_a_missing_required_field_fails_unless_the_reference_makes_it_optional() -> None:
    errors = client_event_errors({"type": "conversation.item.truncate", "item_id": "item_1"})
    assert sorted(errors) == [
        "audio_end_ms: required field missing (SDK's ClientEventConversationItemTruncate)",
        "content_index: required field missing (SDK's ClientEventConversationItemTruncate)",
    ]
    done = {  # the reference's `.done` has no `name`
        "type": "response.function_call_arguments.done",
        "event_id": "event_1",
        "response_id": "resp_1",
        "item_id": "item_1",
        "output_index": 0,
        "call_id": "call_1",
        "arguments": "{}",
    }
    assert server_event_errors(done) == []
    assert server_event_errors(_with(done, "output_index", "0")) == [
        "output_index: expected int, got string '0'"
    ]


def test_server_events_nested_items_and_usage() -> None:
    done = {
        "type": "response.done",
        "event_id": "event_1",
        "response": {
            "id": "resp_1",
            "object": "realtime.response",
            "status": "failed",
            "status_details": {"type": "failed", "error": {"type": "server_error"}},
            "output": [
                {
                    "id": "item_1",
                    "object": "realtime.item",
                    "type": "function_call",
                    "status": "completed",
                    "name": "end_interview",
                    "call_id": "call_1",
                    "arguments": "{}",
                }
            ],
            "usage": {  # cached_tokens without cached_tokens_details, as the reference shows
                "total_tokens": 3,
                "input_tokens": 2,
                "output_tokens": 1,
                "input_token_details": {"text_tokens": 2, "audio_tokens": 0, "cached_tokens": 0},
                "output_token_details": {"text_tokens": 1, "audio_tokens": 0},
            },
        },
    }
    assert server_event_errors(done) == []
    bad = _with(done, "response.output", [{"type": "message", "role": "assistant"}])
    assert sorted(server_event_errors(bad)) == [
        "response.output[0].content: required field missing (SDK's ResponseMessageItem)",
        "response.output[0].status: required field missing (SDK's ResponseMessageItem)",
    ]
    bad = _with(done, "response.status_details", {"type": "exploded"})
    assert server_event_errors(bad)[0].startswith(
        "response.status_details.type: 'exploded' is not a known ResponseStatusDetails"
    )
    assert server_event_errors({"type": "rate_limits.updated", "rate_limits": []}) == []


def test_a_violation_is_recorded_naming_the_event() -> None:
    check_client_event({"type": "input_audio_buffer.append", "event_id": "e7", "audio": 1}, "me")
    found = contract.take()
    assert len(found) == 1
    assert str(found[0]).startswith("me: 'input_audio_buffer.append' event e7\n    audio:")


async def test_the_fake_voice_live_checks_what_it_receives_and_sends() -> None:
    async with FakeVoiceLive() as fake:
        async with connect(fake.ws_url(), additional_headers={"api-key": "test-key"}) as ws:
            await ws.recv()  # session.created
            await ws.send(json.dumps({"type": "response.cancel", "response_idd": "x"}))
            session = await fake.wait_for_session()
            await session.wait_event("response.cancel")
            await session.send({"type": "session.updated", "session": {"voice": 7}})
            await ws.recv()
    found = contract.take()
    assert [(v.source, v.name) for v in found] == [
        ("bot -> fake Voice Live", "'response.cancel' event"),
        ("fake Voice Live -> bot", "'session.updated' event"),
    ]
    assert found[0].errors == ["response_idd: unknown field (not in the SDK's "
                               "ClientEventResponseCancel)"]  # fmt: skip
    assert found[1].errors[0].startswith("session.voice: expected")


def test_valid_twiml_passes() -> None:
    """Every document the bot builds, also those a test may never have asked for."""
    assert twiml_errors(hangup_twiml(APOLOGY)) == []
    assert twiml_errors(hangup_twiml()) == []
    assert twiml_errors(BUILT_IN[VOICEMAIL]) == []
    assert twiml_errors(wait_twiml("https://example.com/twilio/voice?wait=1")) == []
    assert twiml_errors(ask_twiml("https://example.com/twilio/code", 2)) == []
    document = connect_twiml(
        stream_url="wss://example.com/twilio/media",
        token="t",
        action_url="https://example.com/twilio/after",
        status_url="https://example.com/twilio/stream-status",
        parameters={"profile": "default"},
    )
    assert twiml_errors(document) == []


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "twiml").glob("*.xml")))
def test_the_editable_twiml_documents_are_what_twilio_python_emits(name: str) -> None:
    assert twiml_errors((ROOT / "twiml" / name).read_text()) == []


@pytest.mark.parametrize("name", sorted(BUILT_IN))
def test_the_built_in_twiml_documents_are_what_twilio_python_emits(name: str) -> None:
    assert twiml_errors(BUILT_IN[name]) == []


def test_bad_twiml_fails_naming_the_element() -> None:
    assert twiml_errors("<Response><Stream url='wss://x/y'/></Response>")[0].startswith(
        "/Response/Stream[0]: <Stream> is not allowed in <Response>"
    )
    bad = "<Response><Connect><Stream url='wss://x/y' Track='inbound_track'/></Connect></Response>"
    assert twiml_errors(bad)[0].startswith(
        "/Response/Connect[0]/Stream[0]/@Track: not an attribute twilio-python's Connect.stream()"
    )
    assert twiml_errors("<Response><Hangup>now</Hangup></Response>") == [
        "/Response/Hangup[0]: <Hangup> takes no text"
    ]
    assert twiml_errors("<Response><Redirect/></Response>") == [
        "/Response/Redirect[0]: VoiceResponse.redirect() requires 'url'"
    ]
    assert twiml_errors("<Reply/>") == ["/Reply: the root must be <Response>"]


def test_rest_forms_are_the_fields_twilio_python_sends() -> None:
    assert {"To", "From", "Url", "StatusCallbackEvent", "AsyncAmd", "TimeLimit"} <= (
        rest_form("create").fields
    )
    assert {"Status", "Twiml", "Url"} <= rest_form("update").fields
    good = {"To": ["+1"], "From": ["+2"], "StatusCallbackEvent": ["initiated", "answered"]}
    assert rest_errors("create", good) == []
    assert rest_errors("create", {**good, "StatusCallbackEvents": ["x"]}) == [
        "StatusCallbackEvents: not a field twilio-python's Calls create sends"
    ]
    assert rest_errors("update", {"Status": ["completed"], "Url": ["a", "b"]}) == [
        "Url: sent 2 times; twilio-python sends it once"
    ]
    assert rest_errors("update", {"Twiml": ["<Response><Hangupp/></Response>"]})[0].startswith(
        "Twiml /Response/Hangupp[0]: <Hangupp> is not allowed"
    )


def test_a_violation_fails_the_test_that_caused_it_unless_exempt(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest((ROOT / "tests" / "conftest.py").read_text())
    pytester.makepyfile(
        """
        import pytest
        from tests.contract.voicelive import check_client_event

        def test_bad():
            check_client_event({"type": "response.create", "response": {"x": 1}}, "bot")

        @pytest.mark.contract_exempt("malformed on purpose")
        def test_exempt():
            check_client_event({"type": "response.create", "response": {"x": 1}}, "bot")

        def test_good():
            check_client_event({"type": "response.create"}, "bot")
        """
    )
    result = pytester.runpytest_inprocess(
        "-p", "no:randomly", "-p", "no:cacheprovider",
        "-o", "asyncio_default_fixture_loop_scope=function",
    )  # fmt: skip
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        ["*1 contract violation(s):*", "*bot: 'response.create' event*", "*response.x: unknown*"]
    )


async def test_the_local_engine_is_checked_both_ways() -> None:
    from bot.localengine.session import EngineSession

    sent: list[str] = []

    async def capture(text: str) -> None:
        sent.append(text)

    session = EngineSession(capture, model="gpt-realtime", speed=1.0)
    await session.send({"type": "response.done", "response": {"status": 3}})
    await session.handle(json.dumps({"type": "response.cancel", "response": {}}))
    await session.close()
    found = contract.take()
    assert [(v.source, v.name, v.errors[0]) for v in found[:2]] == [
        ("local engine -> client", "'response.done' event " + json.loads(sent[0])["event_id"],
         "response.status: expected str | none, got number 3"),
        ("client -> local engine", "'response.cancel' event",
         "response: unknown field (not in the SDK's ClientEventResponseCancel)"),
    ]  # fmt: skip
