"""The Voice Live session a call of a given profile and candidate opens with."""

from __future__ import annotations

from typing import Any

from bot.config import Settings
from bot.interview.context import InterviewContext
from bot.interview.instructions import compose, tools
from bot.interview.profiles import Profile
from bot.voicelive.session import session_config


def call_session(settings: Settings, profile: Profile, context: InterviewContext) -> dict[str, Any]:
    """The exact session.update body a call sends (also what `bot doctor` checks)."""
    return session_config(
        model=settings.voice_live_model,
        transcription=settings.voice_live_transcription_model,
        instructions=compose(profile, context),
        tools=tools(profile),
        audio_format=settings.audio_format,
        voice=profile.voice or settings.voice_live_voice,
        language=profile.language,
        speaking_rate=profile.speaking_rate,
        speech_duration_ms=profile.speech_duration_ms,
        remove_filler_words=profile.remove_filler_words,
    )
