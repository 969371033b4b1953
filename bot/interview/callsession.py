"""The session.update configuration a call sends for an interview (profile and candidate)."""

from __future__ import annotations

from typing import Any

from bot.config import Settings
from bot.interview.context import InterviewContext
from bot.interview.instructions import compose, tools
from bot.interview.profiles import Profile
from bot.voicelive.client import session_config


def call_session(settings: Settings, profile: Profile, context: InterviewContext) -> dict[str, Any]:
    """The `session` body of the call's session.update: instructions, tools, voice, language."""
    instructions = compose(profile, context)
    return session_config(settings, instructions, tools(profile), settings.audio_format,
                          voice=profile.voice, language=profile.language)  # fmt: skip
