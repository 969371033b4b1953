"""Twilio Media Streams messages: parsed from the reference's JSON, built as Twilio expects."""

import base64
import json

import pytest

from bot.twilio import media

SID = "MZ18ad3ab5a668481ce02b83e7395059f0"


def test_parses_the_reference_events() -> None:
    assert media.parse('{"event":"connected","protocol":"Call","version":"1.0.0"}') == (
        media.Connected("Call", "1.0.0")
    )
    start = media.parse(
        json.dumps(
            {
                "event": "start",
                "sequenceNumber": "1",
                "streamSid": SID,
                "start": {
                    "accountSid": "AC123",
                    "streamSid": SID,
                    "callSid": "CA456",
                    "tracks": ["inbound"],
                    "customParameters": {"token": "t1"},
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
            }
        )
    )
    assert start == media.Start(SID, "CA456", "AC123", {"token": "t1"}, "audio/x-mulaw", 8000, 1)
    payload = base64.b64encode(b"\xff" * 160).decode()
    m = media.parse(
        json.dumps(
            {
                "event": "media",
                "sequenceNumber": "2",
                "streamSid": SID,
                "media": {"track": "inbound", "chunk": "1", "timestamp": "20", "payload": payload},
            }
        )
    )
    assert m == media.Media(SID, b"\xff" * 160, 20)
    assert media.parse(
        json.dumps(
            {"event": "mark", "sequenceNumber": "3", "streamSid": SID, "mark": {"name": "m1"}}
        )
    ) == media.Mark(SID, "m1")
    assert media.parse(
        json.dumps(
            {
                "event": "dtmf",
                "streamSid": SID,
                "sequenceNumber": "4",
                "dtmf": {"track": "inbound_track", "digit": "1"},
            }
        )
    ) == (media.Dtmf(SID, "1"))
    assert media.parse(
        json.dumps(
            {
                "event": "stop",
                "sequenceNumber": "5",
                "streamSid": SID,
                "stop": {"accountSid": "AC1", "callSid": "CA456"},
            }
        )
    ) == (media.Stop(SID, "CA456"))


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"\x00\x01", "binary frame"),
        ("{not json", "invalid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"event":"media","streamSid":"MZ1","media":{"payload":"@@@"}}', "not valid base64"),
        ('{"event":"media","streamSid":"MZ1"}', "'media'"),
        ('{"event":"mark","streamSid":"MZ1","mark":{}}', "'name'"),
        ('{"event":"start","streamSid":"MZ1","start":{}}', "'callSid'"),
        ('{"event":"teleport","streamSid":"MZ1"}', "unknown event 'teleport'"),
        ("x" * 70_000, "exceeds"),
    ],
)
def test_bad_frames_raise_a_precise_error(frame: str | bytes, reason: str) -> None:
    with pytest.raises(media.MediaProtocolError, match=reason.replace("(", r"\(")):
        media.parse(frame)


def test_builds_outbound_messages_twilio_accepts() -> None:
    out = json.loads(media.media(SID, b"\x01\x02"))
    assert out == {"event": "media", "streamSid": SID, "media": {"payload": "AQI="}}
    assert json.loads(media.mark(SID, "m7")) == {
        "event": "mark",
        "streamSid": SID,
        "mark": {"name": "m7"},
    }
    assert json.loads(media.clear(SID)) == {"event": "clear", "streamSid": SID}


def test_a_hostile_stream_sid_cannot_break_the_json() -> None:
    out = json.loads(media.media('MZ"},"x":{"', b"\x00"))
    assert out["streamSid"] == 'MZ"},"x":{"'
