"""Session configuration in the fake Voice Live: session.update validated, refused per
model (transcription models, end-of-utterance detection, parameters a test refuses) or
applied, and the effective settings other parts read."""

from __future__ import annotations

import copy
from typing import Any

from .reference import (
    INPUT_FORMATS,
    OUTPUT_FORMATS,
    TURN_DETECTION_TYPES,
    is_openai_realtime,
    transcription_models,
)


def _has_path(update: dict[str, Any], dotted: str) -> bool:
    """Whether a session.update event's body contains `dotted` ("session.voice", ...)."""
    parts = dotted.split(".")
    if parts and parts[0] == "session":
        parts = parts[1:]
    node: Any = update
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return bool(parts)


class SessionConfig:
    """Mixed into FakeSession (session.py), which holds the state."""

    def _session_view(self) -> dict[str, Any]:
        return copy.deepcopy(self.config)

    @property
    def _turn_detection(self) -> dict[str, Any] | None:
        td = self.config.get("turn_detection")
        return td if isinstance(td, dict) else None

    def _td_flag(self, name: str) -> bool:
        """create_response / interrupt_response: anything but an explicit false is true."""
        return (self._turn_detection or {}).get(name, True) is not False

    def _input_rate(self) -> int:
        fmt = self.config.get("input_audio_format", "pcm16")
        if fmt != "pcm16":
            return 8000
        return int(self.config.get("input_audio_sampling_rate") or 24000)

    async def _on_session_update(self, event: dict[str, Any]) -> None:
        update = event.get("session")
        if not isinstance(update, dict):
            await self._reject(event, "invalid_value", "'session' must be an object.", "session")
            return
        problem = self._validate_session(update)
        if problem is not None:
            await self._reject(event, "invalid_value", problem[1], f"session.{problem[0]}")
            return
        refusal = self._refused_part(update)
        if refusal is not None:  # the whole update is not applied
            param, message = refusal
            self.config_errors.append({"param": param, "event_id": event.get("event_id")})
            await self._reject(event, "invalid_value", message, param)
            return
        update = copy.deepcopy(update)
        fmt_before = self.config.get("input_audio_format")
        self.config.update(update)
        fmt = self.config.get("input_audio_format")
        if "input_audio_sampling_rate" not in update and fmt != fmt_before:
            self.config["input_audio_sampling_rate"] = 24000 if fmt == "pcm16" else 8000
        await self._emit({"type": "session.updated", "session": self._session_view()})

    def _refused_part(self, update: dict[str, Any]) -> tuple[str, str] | None:
        """(param, message) for a combination the service does not support, per model."""
        model = self.query.get("model")
        shown = model or f"agent {self.query.get('agent-name')!r}"
        for dotted in sorted(self.server.refuse_params):
            if _has_path(update, dotted):
                return dotted, f"{dotted} is not supported for model {shown}."
        transcription = update.get("input_audio_transcription")
        if isinstance(transcription, dict):
            wanted = transcription.get("model")
            allowed = transcription_models(model)
            if wanted not in allowed:
                return (
                    "session.input_audio_transcription.model",
                    f"Transcription model {wanted!r} is not supported with model {shown}; "
                    f"supported: {', '.join(allowed)}.",
                )
        td = update.get("turn_detection")
        if (
            isinstance(td, dict)
            and td.get("end_of_utterance_detection") is not None
            and is_openai_realtime(model)
        ):
            return (
                "session.turn_detection.end_of_utterance_detection",
                f"end_of_utterance_detection is not supported with model {shown}.",
            )
        return None

    def _validate_session(self, update: dict[str, Any]) -> tuple[str, str] | None:
        modalities = update.get("modalities")
        if modalities is not None:
            if not isinstance(modalities, list) or not set(modalities) <= {"text", "audio"}:
                return "modalities", "modalities must be a list of 'text' and 'audio'."
            if "audio" in modalities and "text" not in modalities:
                return "modalities", "['audio'] alone is not allowed; use ['text', 'audio']."
        if self.agent_mode and "instructions" in update:
            return "instructions", "instructions are not allowed in agent mode."
        in_fmt = update.get("input_audio_format", self.config.get("input_audio_format"))
        if in_fmt not in INPUT_FORMATS:
            return "input_audio_format", f"Unsupported input_audio_format {in_fmt!r}."
        out_fmt = update.get("output_audio_format", self.config.get("output_audio_format"))
        if out_fmt not in OUTPUT_FORMATS:
            return "output_audio_format", f"Unsupported output_audio_format {out_fmt!r}."
        if "input_audio_sampling_rate" in update:
            rate = update["input_audio_sampling_rate"]
            allowed = (24000, 16000) if in_fmt == "pcm16" else (8000,)
            if rate not in allowed:
                return "input_audio_sampling_rate", f"{rate!r} not allowed with {in_fmt}."
        if "turn_detection" in update:
            td = update["turn_detection"]
            if td is not None and (
                not isinstance(td, dict) or td.get("type") not in TURN_DETECTION_TYPES
            ):
                return "turn_detection", "turn_detection must be null or have a known type."
        return None
