"""Voice Live shapes for the local engine (pure): ids, session settings, items, usage, errors."""

from __future__ import annotations

import copy
import secrets
import time
from typing import Any

Event = dict[str, Any]

INPUT_FORMATS = {"pcm16": None, "g711_ulaw": 8000}
INPUT_RATES = (8000, 16000, 24000)
OUTPUT_FORMATS = {  # name -> (sample rate, μ-law?)
    "pcm16": (24000, False),
    "pcm16_8000hz": (8000, False),
    "pcm16_16000hz": (16000, False),
    "g711_ulaw": (8000, True),
}
VAD_TYPES = ("server_vad", "azure_semantic_vad", "azure_semantic_vad_multilingual")
# Which input_audio_transcription models a session accepts depends on its realtime model.
OPENAI_TRANSCRIPTION_MODELS = (
    "whisper-1",
    "gpt-4o-transcribe",
    "gpt-4o-mini-transcribe",
    "gpt-4o-transcribe-diarize",
    "mai-transcribe",
)
AZURE_TRANSCRIPTION_MODELS = ("azure-speech",)
SESSION_TTL_S = 3600

DEFAULT_TURN_DETECTION: Event = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 500,
    "create_response": True,
    "interrupt_response": True,
}


def voice_rate(voice: Any) -> float:
    """An Azure voice's `rate` as a multiplier ("0.9", 0.9; SSML's named levels and percentages
    are not modelled): 1.0 when absent or unreadable, bounded to 0.5-2.0."""
    rate = voice.get("rate") if isinstance(voice, dict) else None
    try:
        value = float(rate) if rate is not None else 1.0
    except (TypeError, ValueError):
        return 1.0
    return min(2.0, max(0.5, value))


def new_id(prefix: str) -> str:
    """An id in the service's style, like item_3f9a…"""
    return f"{prefix}_{secrets.token_hex(11)}"


def default_session(model: str) -> Event:
    """The effective settings of a new session, before any session.update."""
    return {
        "id": new_id("sess"),
        "model": model,
        "modalities": ["text", "audio"],
        "instructions": "",
        "voice": {"type": "openai", "name": "alloy"},
        "input_audio_format": "pcm16",
        "input_audio_sampling_rate": 24000,
        "output_audio_format": "pcm16",
        "input_audio_transcription": None,
        "turn_detection": dict(DEFAULT_TURN_DETECTION),
        "tools": [],
        "tool_choice": "auto",
        "temperature": 0.8,
        "max_response_output_tokens": "inf",
        "expires_at": int(time.time()) + SESSION_TTL_S,
    }


class InvalidRequest(ValueError):
    """A client event the engine refuses; becomes an `error` event, the session stays open."""

    def __init__(
        self, message: str, *, code: str = "invalid_value", param: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.param = param


def is_openai_realtime(model: str | None) -> bool:
    """gpt-realtime, gpt-realtime-mini and other OpenAI realtime models (not gpt-4.1 etc.)."""
    return bool(model) and (model.startswith("gpt-realtime") or "realtime" in (model or ""))


def transcription_models(model: str | None) -> tuple[str, ...]:
    """The input_audio_transcription models a session with this realtime model accepts."""
    return OPENAI_TRANSCRIPTION_MODELS if is_openai_realtime(model) else AZURE_TRANSCRIPTION_MODELS


def check_for_model(update: Any, model: str | None) -> None:
    """Refuse (the whole update) what the session's model does not support, as the service does:
    azure-speech with gpt-realtime*, OpenAI transcription models with other models, and
    turn_detection.end_of_utterance_detection with gpt-realtime*."""
    if not isinstance(update, dict):
        return
    transcription = update.get("input_audio_transcription")
    if isinstance(transcription, dict):
        wanted = transcription.get("model")
        allowed = transcription_models(model)
        if wanted not in allowed:
            raise InvalidRequest(
                f"input_audio_transcription.model {wanted!r} is not supported with model "
                f"{model!r}; use one of {', '.join(allowed)}",
                param="session.input_audio_transcription.model",
            )
    detection = update.get("turn_detection")
    if (
        isinstance(detection, dict)
        and detection.get("end_of_utterance_detection") is not None
        and is_openai_realtime(model)
    ):
        raise InvalidRequest(
            f"turn_detection.end_of_utterance_detection is not supported with model {model!r}",
            param="session.turn_detection.end_of_utterance_detection",
        )


def merge_session(current: Event, update: Any) -> Event:
    """Apply a session.update's `session` object to the effective settings, or refuse it."""
    if not isinstance(update, dict):
        raise InvalidRequest("session must be an object", param="session")
    merged = copy.deepcopy(current)
    for key, value in update.items():
        if key in ("id", "object", "expires_at"):
            continue
        merged[key] = copy.deepcopy(value)
    if "input_audio_format" in update and "input_audio_sampling_rate" not in update:
        merged["input_audio_sampling_rate"] = INPUT_FORMATS.get(merged["input_audio_format"])
    _check_session(merged)
    return merged


def _check_session(session: Event) -> None:
    fmt = session.get("input_audio_format")
    if fmt not in INPUT_FORMATS:
        raise InvalidRequest(
            f"input_audio_format {fmt!r} is not supported by the local engine "
            f"(use one of {', '.join(INPUT_FORMATS)})",
            param="session.input_audio_format",
        )
    rate = session.get("input_audio_sampling_rate") or INPUT_FORMATS[fmt] or 24000
    if fmt == "g711_ulaw":
        rate = 8000
    if rate not in INPUT_RATES:
        raise InvalidRequest(
            f"input_audio_sampling_rate {rate!r} is not supported",
            param="session.input_audio_sampling_rate",
        )
    session["input_audio_sampling_rate"] = rate
    if session.get("output_audio_format") not in OUTPUT_FORMATS:
        raise InvalidRequest(
            f"output_audio_format {session.get('output_audio_format')!r} is not supported by "
            f"the local engine (use one of {', '.join(OUTPUT_FORMATS)})",
            param="session.output_audio_format",
        )
    detection = session.get("turn_detection")
    if detection is not None:
        if not isinstance(detection, dict) or detection.get("type") not in VAD_TYPES:
            raise InvalidRequest(
                f"turn_detection.type must be one of {', '.join(VAD_TYPES)} (or null)",
                param="session.turn_detection",
            )
        given = {k: v for k, v in detection.items() if v is not None}
        detection = session["turn_detection"] = {**DEFAULT_TURN_DETECTION, **given}
        for name in ("threshold", "prefix_padding_ms", "silence_duration_ms"):
            value = detection[name]
            if isinstance(value, bool) or not isinstance(value, int | float):
                param = f"session.turn_detection.{name}"
                raise InvalidRequest(f"turn_detection.{name} must be a number", param=param)
        duration = detection.get("speech_duration_ms", 0)
        if isinstance(duration, bool) or not isinstance(duration, int | float) or duration < 0:
            raise InvalidRequest("turn_detection.speech_duration_ms must be a number of ms",
                                 param="session.turn_detection.speech_duration_ms")  # fmt: skip
        if not isinstance(detection.get("remove_filler_words", False), bool):
            raise InvalidRequest("turn_detection.remove_filler_words must be true or false",
                                 param="session.turn_detection.remove_filler_words")  # fmt: skip
    tools = session.get("tools") or []
    if not isinstance(tools, list) or not all(isinstance(t, dict) and t.get("name") for t in tools):
        raise InvalidRequest("tools must be a list of functions with names", param="session.tools")
    if not isinstance(session.get("instructions", ""), str):
        raise InvalidRequest("instructions must be a string", param="session.instructions")


def tool_names(session: Event) -> set[str]:
    """The names of the functions the session offers the model."""
    return {tool["name"] for tool in session.get("tools") or []}


def error(
    message: str, *, code: str, param: str | None = None, event_id: str | None = None
) -> Event:
    """An `error` server event (type invalid_request_error)."""
    body: Event = {"type": "invalid_request_error", "code": code, "message": message}
    if param is not None:
        body["param"] = param
    if event_id is not None:
        body["event_id"] = event_id
    return {"type": "error", "error": body}


def message_item(item_id: str, role: str, content: list[Event], status: str) -> Event:
    """A conversation message item."""
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "status": status,
        "role": role,
        "content": content,
    }


def function_call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> Event:
    """A function_call output item."""
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "function_call",
        "status": status,
        "name": name,
        "call_id": call_id,
        "arguments": arguments,
    }


def input_tokens(input_text_tokens: int, input_audio_ms: float) -> int:
    """Input tokens of a response: its text, and about 10 tokens per second of audio."""
    return input_text_tokens + int(input_audio_ms / 100)


def usage(
    input_text_tokens: int,
    input_audio_ms: float,
    output_text: str,
    output_audio_ms: float,
    *,
    cached_tokens: int = 0,
    cached_details: bool = True,
) -> Event:
    """Token usage of one response, at about 10 tokens/s audio in and 20 tokens/s audio out.

    `cached_tokens` is capped at the input; without `cached_details` there is no
    `cached_tokens_details` (as in the API reference's example)."""
    audio_in = int(input_audio_ms / 100)
    audio_out = int(output_audio_ms / 50)
    text_out = max(1, len(output_text.split()) * 4 // 3) if output_text or audio_out else 0
    total_in, total_out = input_text_tokens + audio_in, text_out + audio_out
    cached = max(0, min(cached_tokens, total_in))
    details: Event = {
        "text_tokens": input_text_tokens,
        "audio_tokens": audio_in,
        "cached_tokens": cached,
    }
    if cached_details:
        cached_text = cached * input_text_tokens // total_in if total_in else 0
        details["cached_tokens_details"] = {
            "text_tokens": cached_text,
            "audio_tokens": cached - cached_text,
        }
    return {
        "total_tokens": total_in + total_out,
        "input_tokens": total_in,
        "output_tokens": total_out,
        "input_token_details": details,
        "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out},
    }


def pre_generated_text(options: Event) -> str | None:
    """The text of response.pre_generated_assistant_message (None when absent), or refuse it."""
    message = options.get("pre_generated_assistant_message")
    if message is None:
        return None
    param = "response.pre_generated_assistant_message"
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list) or not content:
        raise InvalidRequest("pre_generated_assistant_message needs content", param=param)
    texts = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") != "text":
            raise InvalidRequest("content parts must be of type text", param=f"{param}.content")
        if not isinstance(part.get("text"), str):
            raise InvalidRequest("text must be a string", param=f"{param}.content")
        texts.append(part["text"])
    return "".join(texts)


def message_text(item: Event) -> str:
    """The text parts of a message item, joined (empty if it has none)."""
    parts = item.get("content")
    if not isinstance(parts, list):
        return ""
    return " ".join(str(p.get("text") or "") for p in parts if isinstance(p, dict)).strip()
