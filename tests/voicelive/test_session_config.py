"""The session configuration per realtime model and language, and what a refusal may drop."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from bot.cost import usage_tokens
from bot.interview.context import InterviewContext
from bot.interview.profiles import load_profile
from bot.interview.session import call_session
from bot.voicelive.session import (
    default_transcription_model,
    session_config,
    transcription_config,
    turn_detection,
    voice_config,
    without,
)


def config(**changes: str) -> dict:
    values = {
        "model": "gpt-realtime",
        "transcription": "gpt-4o-transcribe",
        "instructions": "Be kind.",
        "tools": [],
        "audio_format": "pcm16",
        "voice": "en-US-AvaNeural",
        "language": "en-US",
        "speech_duration_ms": 250,
        "remove_filler_words": True,
        **changes,
    }
    return session_config(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-realtime", "gpt-4o-transcribe"),
        ("gpt-realtime-mini", "gpt-4o-transcribe"),
        ("gpt-4o-mini-realtime-preview", "gpt-4o-transcribe"),
        ("gpt-4.1", "azure-speech"),
        ("phi4-mini", "azure-speech"),
    ],
)
def test_transcription_model_follows_the_realtime_model(
    tmp_path: Path, model: str, expected: str
) -> None:
    assert default_transcription_model(model) == expected
    env = {"VOICE_LIVE_MODEL": model, "DATA_DIR": str(tmp_path)}
    assert load_settings(env).voice_live_transcription_model == expected


def test_a_transcription_model_the_service_would_refuse_stops_start_up(tmp_path: Path) -> None:
    data = {"DATA_DIR": str(tmp_path)}
    with pytest.raises(ConfigError, match="VOICE_LIVE_TRANSCRIPTION_MODEL: gpt-realtime does not"):
        load_settings({**data, "VOICE_LIVE_TRANSCRIPTION_MODEL": "azure-speech"})
    with pytest.raises(ConfigError, match="VOICE_LIVE_TRANSCRIPTION_MODEL"):
        load_settings(
            {**data, "VOICE_LIVE_MODEL": "gpt-4.1", "VOICE_LIVE_TRANSCRIPTION_MODEL": "whisper-1"}
        )
    chosen = load_settings({**data, "VOICE_LIVE_TRANSCRIPTION_MODEL": "gpt-4o-mini-transcribe"})
    assert chosen.voice_live_transcription_model == "gpt-4o-mini-transcribe"


def test_transcription_language_form_depends_on_the_model() -> None:
    assert transcription_config("gpt-realtime", "whisper-1", "fr-FR") == {
        "model": "whisper-1",
        "language": "fr",
    }
    assert transcription_config("gpt-4.1", "azure-speech", "fr-FR") == {
        "model": "azure-speech",
        "language": "fr-FR",
    }


def test_turn_detection_by_language_and_model() -> None:
    assert turn_detection("en-US", "gpt-realtime")["type"] == "azure_semantic_vad"
    french = turn_detection("fr-CA", "gpt-realtime")
    assert french["type"] == "azure_semantic_vad_multilingual" and french["languages"] == ["fr"]
    assert turn_detection("sv-SE", "gpt-realtime")["type"] == "server_vad"
    assert "end_of_utterance_detection" not in turn_detection("en-US", "gpt-realtime")
    assert "end_of_utterance_detection" in turn_detection("en-US", "gpt-4.1")
    assert "end_of_utterance_detection" not in turn_detection("sv-SE", "gpt-4.1")


def test_voices_in_their_typed_form() -> None:
    assert voice_config("alloy") == {"type": "openai", "name": "alloy"}
    assert voice_config("Marin") == {"type": "openai", "name": "marin"}
    assert voice_config("en-US-AvaNeural") == {"type": "azure-standard", "name": "en-US-AvaNeural"}
    hd = "en-US-Ava:DragonHDLatestNeural"
    assert voice_config(hd) == {"type": "azure-standard", "name": hd}


def test_speech_duration_and_filler_words_go_to_the_semantic_vads() -> None:
    for language in ("en-US", "fr-FR"):
        td = turn_detection(language, "gpt-realtime", speech_duration_ms=400,
                            remove_filler_words=False)  # fmt: skip
        assert td["speech_duration_ms"] == 400 and td["remove_filler_words"] is False
    # The SDK's ServerVad has neither field: a language without semantic VAD goes without.
    plain = turn_detection("sv-SE", "gpt-realtime", speech_duration_ms=400,
                           remove_filler_words=True)  # fmt: skip
    assert "speech_duration_ms" not in plain and "remove_filler_words" not in plain
    assert "speech_duration_ms" not in turn_detection("en-US", "gpt-realtime")


def test_an_azure_voice_takes_the_speaking_rate_an_openai_voice_does_not() -> None:
    assert voice_config("en-US-AvaNeural", 0.85) == {
        "type": "azure-standard", "name": "en-US-AvaNeural", "rate": "0.85",
    }  # fmt: skip
    assert voice_config("en-US-AvaNeural", 1.25)["rate"] == "1.25"
    assert "rate" not in voice_config("en-US-AvaNeural", 1.0)  # the service's own default
    assert voice_config("alloy", 0.85) == {"type": "openai", "name": "alloy"}


def test_the_profile_sets_pace_and_what_interrupts(tmp_path: Path) -> None:
    settings = load_settings({"DATA_DIR": str(tmp_path)})
    profile = load_profile(Path(__file__).parents[2] / "profiles" / "practice.toml")
    default = call_session(settings, profile, InterviewContext(profile=profile.name))
    assert default["turn_detection"]["speech_duration_ms"] == 250
    assert default["turn_detection"]["remove_filler_words"] is True
    assert "rate" not in default["voice"]
    changed = dataclasses.replace(profile, speech_duration_ms=600, remove_filler_words=False,
                                  speaking_rate=0.9)  # fmt: skip
    session = call_session(settings, changed, InterviewContext(profile=profile.name))
    assert session["turn_detection"]["speech_duration_ms"] == 600
    assert session["turn_detection"]["remove_filler_words"] is False
    assert session["voice"]["rate"] == "0.9"


def test_one_response_at_a_time_for_tools() -> None:
    assert config()["parallel_tool_calls"] is False


@pytest.mark.parametrize(
    ("param", "dropped"),
    [
        ("session.input_audio_transcription.model", "input_audio_transcription"),
        ("session.input_audio_noise_reduction", "input_audio_noise_reduction"),
        ("session.input_audio_echo_cancellation.type", "input_audio_echo_cancellation"),
        ("session.voice", "voice"),
        ("session.turn_detection.languages", "turn_detection.languages"),
        ("session.turn_detection.speech_duration_ms", "turn_detection.speech_duration_ms"),
        ("session.turn_detection.remove_filler_words", "turn_detection.remove_filler_words"),
        ("session.turn_detection.type", "turn_detection.type"),
    ],
)
def test_an_optional_part_refused_is_dropped_and_the_rest_kept(param: str, dropped: str) -> None:
    session = config(language="fr-FR")
    trimmed = without(session, param)
    assert trimmed is not None and trimmed[1] == dropped
    rest = trimmed[0]
    assert rest["instructions"] == session["instructions"] and rest["tools"] == session["tools"]
    assert rest != session
    if dropped == "turn_detection.type":  # semantic VAD refused: plain VAD, same timing
        assert rest["turn_detection"]["type"] == "server_vad"
        assert rest["turn_detection"]["silence_duration_ms"] == 500


@pytest.mark.parametrize(
    "param",
    [None, "session.instructions", "session.tools[0].name", "session.input_audio_format", ""],
)
def test_an_essential_or_unnamed_part_cannot_be_dropped(param: str | None) -> None:
    assert without(config(), param) is None


def test_cached_tokens_without_details_are_split_in_proportion() -> None:
    usage = {
        "input_token_details": {"text_tokens": 300, "audio_tokens": 100, "cached_tokens": 200},
        "output_token_details": {"text_tokens": 5, "audio_tokens": 50},
    }
    tokens = usage_tokens(usage)
    assert (tokens["cached_text_tokens"], tokens["cached_audio_tokens"]) == (150, 50)
    details = {"cached_tokens_details": {"text_tokens": 180, "audio_tokens": 20}}
    usage["input_token_details"].update(details)  # type: ignore[attr-defined]
    tokens = usage_tokens(usage)
    assert (tokens["cached_text_tokens"], tokens["cached_audio_tokens"]) == (180, 20)
