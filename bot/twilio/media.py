"""Twilio Media Streams messages, parsed and built without I/O (text in, typed event out)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

MAX_FRAME_BYTES = 64 * 1024


class MediaProtocolError(ValueError):
    """A frame from Twilio that we cannot use; the message says exactly why."""


@dataclass(frozen=True, slots=True)
class Connected:
    protocol: str
    version: str


@dataclass(frozen=True, slots=True)
class Start:
    stream_sid: str
    call_sid: str
    account_sid: str
    custom_parameters: dict[str, str] = field(default_factory=dict)
    encoding: str = "audio/x-mulaw"
    sample_rate: int = 8000
    channels: int = 1


@dataclass(frozen=True, slots=True)
class Media:
    stream_sid: str
    payload: bytes
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class Dtmf:
    stream_sid: str
    digit: str


@dataclass(frozen=True, slots=True)
class Mark:
    stream_sid: str
    name: str


@dataclass(frozen=True, slots=True)
class Stop:
    stream_sid: str
    call_sid: str


TwilioEvent = Connected | Start | Media | Dtmf | Mark | Stop


def _str(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise MediaProtocolError(f"{where}: missing or non-string field {key!r}")
    return value


def _obj(obj: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = obj.get(key)
    if not isinstance(value, dict):
        raise MediaProtocolError(f"{where}: missing or non-object field {key!r}")
    return value


def parse(frame: str | bytes, *, max_bytes: int = MAX_FRAME_BYTES) -> TwilioEvent:
    """Parse one WebSocket frame from Twilio. Raises MediaProtocolError (only) with the reason."""
    try:
        return _parse(frame, max_bytes)
    except MediaProtocolError:
        raise
    except (ValueError, TypeError, AttributeError, OverflowError, RecursionError) as exc:
        raise MediaProtocolError(f"unusable frame: {type(exc).__name__}: {exc}"[:200]) from None


def _parse(frame: str | bytes, max_bytes: int) -> TwilioEvent:
    if isinstance(frame, bytes):
        raise MediaProtocolError(f"binary frame of {len(frame)} bytes (Twilio sends JSON text)")
    if len(frame) > max_bytes:
        raise MediaProtocolError(f"frame of {len(frame)} characters exceeds {max_bytes}")
    try:
        msg = json.loads(frame)
    except ValueError as exc:
        raise MediaProtocolError(f"invalid JSON: {exc}") from None
    if not isinstance(msg, dict):
        raise MediaProtocolError("frame is not a JSON object")
    event = msg.get("event")
    if event == "media":
        media = _obj(msg, "media", "media")
        try:
            payload = base64.b64decode(_str(media, "payload", "media"), validate=True)
        except binascii.Error as exc:
            raise MediaProtocolError(f"media: payload is not valid base64: {exc}") from None
        try:
            timestamp = int(media.get("timestamp") or 0)
        except (TypeError, ValueError):
            raise MediaProtocolError("media: timestamp is not a number") from None
        return Media(_str(msg, "streamSid", "media"), payload, timestamp)
    if event == "mark":
        return Mark(_str(msg, "streamSid", "mark"), _str(_obj(msg, "mark", "mark"), "name", "mark"))
    if event == "start":
        start = _obj(msg, "start", "start")
        params = start.get("customParameters") or {}
        if not isinstance(params, dict):
            raise MediaProtocolError("start: customParameters is not an object")
        fmt = start.get("mediaFormat") or {}
        return Start(
            stream_sid=_str(msg, "streamSid", "start"),
            call_sid=_str(start, "callSid", "start"),
            account_sid=str(start.get("accountSid") or ""),
            custom_parameters={str(k): str(v) for k, v in params.items()},
            encoding=str(fmt.get("encoding", "audio/x-mulaw")),
            sample_rate=int(fmt.get("sampleRate", 8000) or 8000),
            channels=int(fmt.get("channels", 1) or 1),
        )
    if event == "connected":
        return Connected(str(msg.get("protocol", "")), str(msg.get("version", "")))
    if event == "dtmf":
        dtmf = _obj(msg, "dtmf", "dtmf")
        return Dtmf(_str(msg, "streamSid", "dtmf"), _str(dtmf, "digit", "dtmf"))
    if event == "stop":
        stop = msg.get("stop") if isinstance(msg.get("stop"), dict) else {}
        return Stop(_str(msg, "streamSid", "stop"), str(stop.get("callSid", "")))
    raise MediaProtocolError(f"unknown event {str(event)[:40]!r}")


def media(stream_sid: str, mulaw: bytes) -> str:
    """An outbound `media` message carrying μ-law 8 kHz audio."""
    payload = base64.b64encode(mulaw).decode("ascii")
    sid = json.dumps(stream_sid)
    return f'{{"event":"media","streamSid":{sid},"media":{{"payload":"{payload}"}}}}'


def mark(stream_sid: str, name: str) -> str:
    """An outbound `mark`: Twilio echoes it once the audio sent before it has played."""
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear(stream_sid: str) -> str:
    """An outbound `clear`: Twilio drops its playback buffer and echoes pending marks."""
    return json.dumps({"event": "clear", "streamSid": stream_sid})
