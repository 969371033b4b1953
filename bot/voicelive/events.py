"""Voice Live realtime events, parsed and built without I/O (text in, typed event out)."""

from __future__ import annotations

import base64
import binascii
import itertools
import json
from dataclasses import dataclass, field
from typing import Any


class EventError(ValueError):
    """A server frame we cannot use; the message says why."""


@dataclass(frozen=True, slots=True)
class SessionReady:
    """session.created or session.updated."""

    type: str
    session_id: str
    expires_at: int | None


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    audio_start_ms: int
    item_id: str


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    audio_end_ms: int
    item_id: str


@dataclass(frozen=True, slots=True)
class ResponseCreated:
    response_id: str


@dataclass(frozen=True, slots=True)
class AudioDelta:
    response_id: str
    item_id: str
    audio: bytes
    content_index: int = 0


@dataclass(frozen=True, slots=True)
class AudioDone:
    response_id: str
    item_id: str


@dataclass(frozen=True, slots=True)
class Transcript:
    """A finished transcript: the bot's words (assistant) or the caller's (user)."""

    role: str
    item_id: str
    text: str


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """response.function_call_arguments.done: `name` is "" when the service leaves it out (the
    API reference does); the function-call item announced it by call_id."""

    response_id: str
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class FunctionCallItem:
    """A function_call item (output_item.added/done, conversation.item.created): its name."""

    response_id: str
    call_id: str
    name: str


@dataclass(frozen=True, slots=True)
class ResponseDone:
    response_id: str
    status: str
    reason: str | None
    usage: dict[str, Any] = field(default_factory=dict)
    transcripts: dict[str, str] = field(default_factory=dict)  # assistant item id -> words
    calls: tuple[FunctionCall, ...] = ()  # the function calls in its output
    error: dict[str, Any] | None = None  # status failed: status_details.error


@dataclass(frozen=True, slots=True)
class ServerError:
    type: str
    code: str | None
    message: str
    event_id: str | None
    param: str | None = None


@dataclass(frozen=True, slots=True)
class Other:
    """Any event the bridge does not act on (kept for logging and tests)."""

    type: str


ServerEvent = (
    SessionReady
    | SpeechStarted
    | SpeechStopped
    | ResponseCreated
    | AudioDelta
    | AudioDone
    | Transcript
    | FunctionCall
    | FunctionCallItem
    | ResponseDone
    | ServerError
    | Other
)


def _s(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    return value if isinstance(value, str) else ""


def _i(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key)
    return int(value) if isinstance(value, int | float) else 0


def parse(frame: str | bytes) -> ServerEvent:
    """Parse one server frame. Raises EventError (only) for frames we cannot use."""
    try:
        return _parse(frame)
    except EventError:
        raise
    except (ValueError, TypeError, AttributeError, OverflowError, RecursionError) as exc:
        raise EventError(f"unusable frame: {type(exc).__name__}: {exc}"[:200]) from None


def _parse(frame: str | bytes) -> ServerEvent:
    try:
        msg = json.loads(frame)
    except ValueError as exc:
        raise EventError(f"invalid JSON: {exc}") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise EventError("frame is not an event object with a type")
    kind: str = msg["type"]
    if kind == "response.audio.delta":
        try:
            audio = base64.b64decode(_s(msg, "delta"), validate=True)
        except binascii.Error as exc:
            raise EventError(f"response.audio.delta: delta is not base64: {exc}") from None
        return AudioDelta(
            _s(msg, "response_id"), _s(msg, "item_id"), audio, _i(msg, "content_index")
        )
    if kind == "input_audio_buffer.speech_started":
        return SpeechStarted(_i(msg, "audio_start_ms"), _s(msg, "item_id"))
    if kind == "input_audio_buffer.speech_stopped":
        return SpeechStopped(_i(msg, "audio_end_ms"), _s(msg, "item_id"))
    if kind == "response.created":
        response = msg.get("response") if isinstance(msg.get("response"), dict) else {}
        return ResponseCreated(_s(response, "id"))
    if kind == "response.audio.done":
        return AudioDone(_s(msg, "response_id"), _s(msg, "item_id"))
    if kind == "response.audio_transcript.done":
        return Transcript("assistant", _s(msg, "item_id"), _s(msg, "transcript"))
    if kind == "conversation.item.input_audio_transcription.completed":
        return Transcript("user", _s(msg, "item_id"), _s(msg, "transcript"))
    if kind == "response.function_call_arguments.done":
        return FunctionCall(
            _s(msg, "response_id"), _s(msg, "call_id"), _s(msg, "name"), _s(msg, "arguments")
        )
    if kind in ("response.output_item.added", "response.output_item.done"):
        item = msg.get("item")
        if isinstance(item, dict) and item.get("type") == "function_call":
            return FunctionCallItem(_s(msg, "response_id"), _s(item, "call_id"), _s(item, "name"))
        return Other(kind)
    if kind == "conversation.item.created":
        item = msg.get("item")
        if isinstance(item, dict) and item.get("type") == "function_call":
            return FunctionCallItem("", _s(item, "call_id"), _s(item, "name"))
        return Other(kind)
    if kind == "response.done":
        response = msg.get("response") if isinstance(msg.get("response"), dict) else {}
        details = response.get("status_details")
        details = details if isinstance(details, dict) else {}
        reason = details.get("reason") if isinstance(details.get("reason"), str) else None
        error = details.get("error") if isinstance(details.get("error"), dict) else None
        usage = response.get("usage") if isinstance(response.get("usage"), dict) else {}
        rid = _s(response, "id")
        return ResponseDone(
            rid,
            _s(response, "status"),
            reason,
            usage,
            _transcripts(response),
            _calls(rid, response),
            error,
        )
    if kind in ("session.created", "session.updated"):
        session = msg.get("session") if isinstance(msg.get("session"), dict) else {}
        expires = session.get("expires_at")
        return SessionReady(kind, _s(session, "id"), expires if isinstance(expires, int) else None)
    if kind == "error":
        error = msg.get("error") if isinstance(msg.get("error"), dict) else {}
        code, event_id, param = error.get("code"), error.get("event_id"), error.get("param")
        return ServerError(
            _s(error, "type"),
            code if isinstance(code, str) else None,
            _s(error, "message"),
            event_id if isinstance(event_id, str) else None,
            param if isinstance(param, str) and param else None,
        )
    return Other(kind)


def _calls(response_id: str, response: dict[str, Any]) -> tuple[FunctionCall, ...]:
    """The function_call items in a response's output, in order."""
    output = response.get("output")
    return tuple(
        FunctionCall(response_id, _s(item, "call_id"), _s(item, "name"), _s(item, "arguments"))
        for item in (output if isinstance(output, list) else [])
        if isinstance(item, dict) and item.get("type") == "function_call"
    )


def _transcripts(response: dict[str, Any]) -> dict[str, str]:
    """The words of each assistant message in a response's output (partial if cut off)."""
    found: dict[str, str] = {}
    output = response.get("output")
    for item in output if isinstance(output, list) else []:
        if not isinstance(item, dict) or item.get("role") != "assistant":
            continue
        parts = item.get("content") if isinstance(item.get("content"), list) else []
        text = "".join(
            str(p.get("transcript") or p.get("text") or "") for p in parts if isinstance(p, dict)
        )
        found[_s(item, "id")] = text
    return found


_ids = itertools.count(1)


def new_event_id(kind: str) -> str:
    """A client event_id: an `error` about that event names it (e.g. `session-3`)."""
    return f"{kind}-{next(_ids)}"


def _dump(event: dict[str, Any], kind: str, event_id: str | None = None) -> str:
    return json.dumps(
        {"type": event["type"], "event_id": event_id or new_event_id(kind), **event},
        separators=(",", ":"),
    )


def session_update(session: dict[str, Any], event_id: str | None = None) -> str:
    return _dump({"type": "session.update", "session": session}, "session", event_id)


def append_audio(audio: bytes) -> str:
    payload = base64.b64encode(audio).decode("ascii")
    return (
        f'{{"type":"input_audio_buffer.append","event_id":"audio-{next(_ids)}",'
        f'"audio":"{payload}"}}'
    )


def assistant_message(text: str) -> dict[str, Any]:
    """An assistant message item (also the shape of pre_generated_assistant_message)."""
    return {"type": "message", "role": "assistant", "content": [{"type": "text", "text": text}]}


def response_create(
    instructions: str | None = None, *, say: str | None = None, event_id: str | None = None
) -> str:
    """Ask for a response; `say` has the service speak exactly that text (no inference)."""
    event: dict[str, Any] = {"type": "response.create"}
    if say is not None:
        event["response"] = {"pre_generated_assistant_message": assistant_message(say)}
    elif instructions:
        event["response"] = {"instructions": instructions}
    return _dump(event, "response", event_id)


def response_cancel(event_id: str) -> str:
    return _dump({"type": "response.cancel"}, "cancel", event_id)


def truncate(item_id: str, audio_end_ms: int, content_index: int = 0) -> str:
    return _dump(
        {
            "type": "conversation.item.truncate",
            "item_id": item_id,
            "content_index": content_index,
            "audio_end_ms": max(0, int(audio_end_ms)),
        },
        "truncate",
    )


def message(role: str, text: str) -> str:
    """conversation.item.create with a text message (system, user or assistant)."""
    kind = "text" if role == "assistant" else "input_text"
    item = {"type": "message", "role": role, "content": [{"type": kind, "text": text}]}
    return _dump({"type": "conversation.item.create", "item": item}, "item")


def function_output(call_id: str, output: str) -> str:
    item = {"type": "function_call_output", "call_id": call_id, "output": output}
    return _dump({"type": "conversation.item.create", "item": item}, "item")
