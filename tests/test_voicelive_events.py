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


def test_client_events_have_the_documented_shape() -> None:
    assert json.loads(vl.append_audio(b"\x01\x02")) == {
        "type": "input_audio_buffer.append",
        "audio": "AQI=",
    }
    assert json.loads(vl.truncate("item_1", 1234.9)) == {
        "type": "conversation.item.truncate",
        "item_id": "item_1",
        "content_index": 0,
        "audio_end_ms": 1234,
    }
    assert json.loads(vl.response_cancel("cancel-3")) == {
        "type": "response.cancel",
        "event_id": "cancel-3",
    }
    assert json.loads(vl.response_create()) == {"type": "response.create"}
    out = json.loads(vl.function_output("c1", '{"ok":true}'))
    assert out["item"] == {"type": "function_call_output", "call_id": "c1", "output": '{"ok":true}'}
