"""The session.update a call sends, shaped by what each realtime model and language accepts."""

from __future__ import annotations

from typing import Any

# Transcription models by realtime model (docs/voice-live.md): OpenAI realtime models take only
# OpenAI transcription models; every other model (cascaded text models, agents) azure-speech.
OPENAI_TRANSCRIPTION = (
    "whisper-1",
    "gpt-4o-transcribe",
    "gpt-4o-mini-transcribe",
    "gpt-4o-transcribe-diarize",
    "mai-transcribe",
    "mai-transcribe-1",
)
AZURE_TRANSCRIPTION = ("azure-speech",)
DEFAULT_OPENAI_TRANSCRIPTION = "gpt-4o-transcribe"
# azure_semantic_vad's semantic part is English only; the multilingual variant covers these.
MULTILINGUAL_VAD = ("es", "fr", "it", "de", "ja", "pt", "zh", "ko", "hi")
# The voices OpenAI realtime models speak with; they go as {"type": "openai", "name": …}.
OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin",
                 "cedar")  # fmt: skip
SILENCE_DURATION_MS = 500

# Parts of a session a call can do without: if the service refuses one, the call goes on
# without it (and says so). Anything else refused (formats, instructions, tools) is essential.
OPTIONAL_PARTS = (
    "input_audio_transcription",
    "input_audio_noise_reduction",
    "input_audio_echo_cancellation",
    "voice",
)
TURN_DETECTION_EXTRAS = (
    "end_of_utterance_detection",
    "languages",
    "remove_filler_words",
    "speech_duration_ms",
)
# Only Azure's semantic VADs take speech_duration_ms and remove_filler_words (the SDK's
# ServerVad has neither); below 80 ms the service uses 80 ms (Microsoft's how-to page).
SEMANTIC_VAD = ("azure_semantic_vad", "azure_semantic_vad_multilingual")


def is_openai_realtime(model: str) -> bool:
    """gpt-realtime, gpt-realtime-mini, gpt-4o(-mini)-realtime-preview, …"""
    return "realtime" in model.lower()


def default_transcription_model(model: str) -> str:
    """The transcription model a session of this realtime model accepts by default."""
    return DEFAULT_OPENAI_TRANSCRIPTION if is_openai_realtime(model) else "azure-speech"


def transcription_problem(model: str, transcription: str) -> str | None:
    """Why Voice Live would refuse this transcription model with this realtime model, or None."""
    if is_openai_realtime(model) and transcription in AZURE_TRANSCRIPTION:
        return (
            f"{model} does not accept {transcription}; use one of "
            f"{', '.join(OPENAI_TRANSCRIPTION[:3])}"
        )
    if not is_openai_realtime(model) and transcription in OPENAI_TRANSCRIPTION:
        return f"{model} is not an OpenAI realtime model: its transcription is azure-speech"
    return None


def transcription_config(model: str, transcription: str, language: str) -> dict[str, Any]:
    """input_audio_transcription: azure-speech takes a locale (en-US), OpenAI models ISO-639-1."""
    if transcription in AZURE_TRANSCRIPTION:
        return {"model": transcription, "language": language}
    return {"model": transcription, "language": language.split("-")[0].lower()}


def turn_detection(
    language: str,
    model: str,
    *,
    speech_duration_ms: int | None = None,
    remove_filler_words: bool | None = None,
) -> dict[str, Any]:
    """Semantic VAD for English, the multilingual one for the languages it covers, else server
    VAD; end-of-utterance detection only where the model supports it (not gpt-realtime).
    speech_duration_ms (how long the caller must speak before it counts: a cough is shorter)
    and remove_filler_words ("mm-hmm" while the bot speaks is no interruption) go to the
    semantic VADs only."""
    base = language.split("-")[0].lower()
    td: dict[str, Any]
    if base == "en":
        td = {"type": "azure_semantic_vad"}
    elif base in MULTILINGUAL_VAD:
        td = {"type": "azure_semantic_vad_multilingual", "languages": [base]}
    else:
        td = {"type": "server_vad"}
    td.update(
        threshold=0.5,
        silence_duration_ms=SILENCE_DURATION_MS,
        create_response=True,
        interrupt_response=True,
    )
    if td["type"] != "server_vad" and not is_openai_realtime(model):
        td["end_of_utterance_detection"] = {
            "model": "semantic_detection_v1",
            "threshold_level": "default",
            "timeout_ms": 1000,
        }
    if td["type"] in SEMANTIC_VAD:
        if speech_duration_ms is not None:
            td["speech_duration_ms"] = speech_duration_ms
        if remove_filler_words is not None:
            td["remove_filler_words"] = remove_filler_words
    return td


def voice_config(voice: str, rate: float = 1.0) -> dict[str, str]:
    """OpenAI voices as {"type":"openai"}; Azure voices (en-US-AvaNeural, …:DragonHDLatest…)
    as {"type":"azure-standard"}, with the speaking rate as a multiplier string ("0.9", as the
    SDK types it: SSML prosody rate) when it is not 1. OpenAI voices take no rate."""
    if voice.lower() in OPENAI_VOICES:
        return {"type": "openai", "name": voice.lower()}
    config = {"type": "azure-standard", "name": voice}
    if rate != 1.0:
        config["rate"] = f"{rate:g}"
    return config


def session_config(
    *,
    model: str,
    transcription: str,
    instructions: str,
    tools: list[dict[str, Any]],
    audio_format: str,
    voice: str,
    language: str = "en-US",
    speaking_rate: float = 1.0,
    speech_duration_ms: int | None = None,
    remove_filler_words: bool | None = None,
) -> dict[str, Any]:
    """The session.update body for an interview call."""
    return {
        "modalities": ["text", "audio"],
        "instructions": instructions,
        "voice": voice_config(voice, speaking_rate),
        "input_audio_format": audio_format,
        "output_audio_format": audio_format,
        "input_audio_sampling_rate": 8000 if audio_format == "g711_ulaw" else 24000,
        "turn_detection": turn_detection(
            language,
            model,
            speech_duration_ms=speech_duration_ms,
            remove_filler_words=remove_filler_words,
        ),
        "input_audio_noise_reduction": {"type": "azure_deep_noise_suppression"},
        "input_audio_echo_cancellation": {"type": "server_echo_cancellation"},
        "input_audio_transcription": transcription_config(model, transcription, language),
        "tools": tools,
        "tool_choice": "auto",
        "parallel_tool_calls": False,
    }


def without(session: dict[str, Any], param: str | None) -> tuple[dict[str, Any], str] | None:
    """The session minus the optional part a refusal names (e.g. `param` =
    "session.input_audio_transcription.model"), and that part's name; None if the refused
    part is essential or not named (then the call cannot go on as configured)."""
    if not param:
        return None
    path = param.removeprefix("session.").split(".")
    top = path[0].split("[")[0]
    trimmed = dict(session)
    if top in OPTIONAL_PARTS and top in trimmed:
        del trimmed[top]
        return trimmed, top
    if top == "turn_detection" and isinstance(trimmed.get(top), dict):
        td = dict(trimmed[top])
        extra = path[1] if len(path) > 1 else None
        if extra in TURN_DETECTION_EXTRAS and extra in td:
            del td[extra]
            trimmed[top] = td
            return trimmed, f"turn_detection.{extra}"
        if td.get("type") != "server_vad":  # semantic VAD refused (region, model): plain VAD
            kept = ("threshold", "silence_duration_ms", "create_response", "interrupt_response")
            trimmed[top] = {"type": "server_vad", **{k: td[k] for k in kept if k in td}}
            return trimmed, "turn_detection.type"
    return None
