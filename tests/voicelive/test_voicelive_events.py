"""Voice Live events: parsed from the reference's shapes; client events built as documented."""

import base64
import json

import pytest

from bot.voicelive import events as vl


def test_parses_the_events_the_bridge_acts_on() -> None:
    audio = base64.b64encode(b"\x00\x01" * 10).decode()
    assert vl.parse(
        json.dumps(
            {
                "type": "response.audio.delta",
                "response_id": "r1",
                "item_id": "i1",
                "output_index": 0,
                "content_index": 0,
                "delta": audio,
            }
        )
    ) == vl.AudioDelta("r1", "i1", b"\x00\x01" * 10)
    assert vl.parse(
        json.dumps(
            {"type": "input_audio_buffer.speech_started", "audio_start_ms": 1234, "item_id": "i2"}
        )
    ) == (vl.SpeechStarted(1234, "i2"))
    assert vl.parse(
        json.dumps({"type": "response.created", "response": {"id": "r9", "status": "in_progress"}})
    ) == (vl.ResponseCreated("r9"))
    done = vl.parse(
        json.dumps(
            {
                "type": "response.done",
                "response": {
                    "id": "r9",
                    "status": "cancelled",
                    "status_details": {"reason": "turn_detected"},
                    "usage": {"total_tokens": 5},
                },
            }
        )
    )
    assert done == vl.ResponseDone("r9", "cancelled", "turn_detected", {"total_tokens": 5})
    err = vl.parse(
        json.dumps(
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "code": "x",
                    "message": "no",
                    "event_id": "cancel-1",
                },
            }
        )
    )
    assert err == vl.ServerError("invalid_request_error", "x", "no", "cancel-1")
    call = vl.parse(
        json.dumps(
            {
                "type": "response.function_call_arguments.done",
                "response_id": "r1",
                "item_id": "i",
                "call_id": "c1",
                "name": "end_interview",
                "arguments": "{}",
            }
        )
    )
    assert call == vl.FunctionCall("r1", "c1", "end_interview", "{}")
    created = vl.parse(
        json.dumps({"type": "session.created", "session": {"id": "sess_1", "expires_at": 99}})
    )
    assert created == vl.SessionReady("session.created", "sess_1", 99)


def test_unknown_types_are_kept_not_fatal() -> None:
    assert vl.parse('{"type":"avatar.thing","x":1}') == vl.Other("avatar.thing")


@pytest.mark.parametrize(
    "frame", ["{oops", "[]", '{"no_type":1}', '{"type":"response.audio.delta","delta":"%%%"}']
)
def test_malformed_frames_raise(frame: str) -> None:
    with pytest.raises(vl.EventError):
        vl.parse(frame)


def _without_id(text: str) -> dict:
    event = json.loads(text)
    assert isinstance(event.pop("event_id"), str) and event  # every client event carries one
    return event


def test_client_events_have_the_documented_shape() -> None:
    assert _without_id(vl.append_audio(b"\x01\x02")) == {
        "type": "input_audio_buffer.append",
        "audio": "AQI=",
    }
    assert _without_id(vl.truncate("item_1", 1234.9, 1)) == {
        "type": "conversation.item.truncate",
        "item_id": "item_1",
        "content_index": 1,
        "audio_end_ms": 1234,
    }
    assert json.loads(vl.response_cancel("cancel-3")) == {
        "type": "response.cancel",
        "event_id": "cancel-3",
    }
    assert _without_id(vl.response_create()) == {"type": "response.create"}
    assert _without_id(vl.response_create(say="Hello there.")) == {
        "type": "response.create",
        "response": {
            "pre_generated_assistant_message": {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "text", "text": "Hello there."}],
            }
        },
    }
    out = _without_id(vl.function_output("c1", '{"ok":true}'))
    assert out["item"] == {"type": "function_call_output", "call_id": "c1", "output": '{"ok":true}'}


def test_event_ids_are_unique_and_can_be_chosen() -> None:
    ids = {json.loads(vl.append_audio(b"\x00"))["event_id"] for _ in range(50)}
    ids |= {json.loads(vl.message("system", "x"))["event_id"] for _ in range(50)}
    assert len(ids) == 100
    update = json.loads(vl.session_update({"voice": "alloy"}, "session-77"))
    assert update["event_id"] == "session-77"


def test_function_call_names_come_from_items_and_response_done() -> None:
    item = {"id": "it1", "type": "function_call", "name": "end_interview", "call_id": "c7",
            "arguments": ""}  # fmt: skip
    added = vl.parse(json.dumps({"type": "response.output_item.added", "response_id": "r1",
                                 "output_index": 0, "item": item}))  # fmt: skip
    assert added == vl.FunctionCallItem("r1", "c7", "end_interview")
    created = vl.parse(json.dumps({"type": "conversation.item.created", "item": item}))
    assert created == vl.FunctionCallItem("", "c7", "end_interview")
    done = vl.parse(json.dumps({"type": "response.function_call_arguments.done",
                                "response_id": "r1", "item_id": "it1", "call_id": "c7",
                                "arguments": "{}"}))  # fmt: skip
    assert done == vl.FunctionCall("r1", "c7", "", "{}")  # no name, as the reference shows
    output = [{**item, "arguments": '{"a":1}'}]
    finished = vl.parse(json.dumps({"type": "response.done", "response": {
        "id": "r1", "status": "completed", "output": output}}))  # fmt: skip
    assert isinstance(finished, vl.ResponseDone)
    assert finished.calls == (vl.FunctionCall("r1", "c7", "end_interview", '{"a":1}'),)


def test_failed_response_and_error_param_are_kept() -> None:
    error = {"type": "rate_limit_error", "code": "rate_limit_exceeded", "message": "slow down"}
    done = vl.parse(json.dumps({"type": "response.done", "response": {
        "id": "r2", "status": "failed", "status_details": {"type": "failed", "error": error},
        "output": []}}))  # fmt: skip
    assert isinstance(done, vl.ResponseDone)
    assert (done.status, done.error) == ("failed", error)
    refused = vl.parse(json.dumps({"type": "error", "error": {
        "type": "invalid_request_error", "code": "invalid_value", "message": "no",
        "param": "session.input_audio_transcription.model", "event_id": "session-1"}}))  # fmt: skip
    assert refused == vl.ServerError("invalid_request_error", "invalid_value", "no", "session-1",
                                     "session.input_audio_transcription.model")  # fmt: skip


def test_audio_delta_keeps_its_content_index() -> None:
    delta = vl.parse(json.dumps({"type": "response.audio.delta", "response_id": "r",
                                 "item_id": "i", "content_index": 2, "delta": "AQI="}))  # fmt: skip
    assert delta == vl.AudioDelta("r", "i", b"\x01\x02", 2)
