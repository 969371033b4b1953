"""Interview profiles: what a recruiter defines for a role (loaded from TOML files in profiles/)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
VOICE = re.compile(r"^[A-Za-z0-9:_.-]{2,100}$")
MAX_TEXT = 2000  # any one line the model is asked to say or weigh
MAX_QUESTIONS = 50
MAX_DURATION_MIN = 120
REQUIRED = ("role", "company", "greeting", "questions", "rubric", "duration_min", "closing")
OPTIONAL = (
    "language", "voice", "description", "holding_line",
    # the candidate's side of the line (README "Silence, coughs and pace")
    "silence_prompt_s", "silence_check_s", "silence_end_s",
    "silence_prompt", "silence_check", "silence_goodbye", "one_way_goodbye",
    "speech_duration_ms", "remove_filler_words", "speaking_rate", "resume_greeting",
    # recordings (README "Recordings and consent")
    "recording_notice",
)  # fmt: skip
# Said word for word when the model's responses fail and the caller would otherwise wait in
# silence (bot/call/core.py); a profile in another language says it in its own.
DEFAULT_HOLDING_LINE = "One moment, please."
# Silence on the candidate's side: after the bot's question has played, this many seconds of
# no voice bring the check-in, then the request for a key, then the goodbye (`no_response`).
DEFAULT_SILENCE_S = (8.0, 20.0, 45.0)
DEFAULT_SILENCE_PROMPT = "Take your time. Would you like me to repeat the question?"
DEFAULT_SILENCE_CHECK = "If you can hear me, please press any key on your phone."
DEFAULT_SILENCE_GOODBYE = (
    "I can't hear anything on the line, so I'll end the call here. We will call you back. Goodbye."
)
DEFAULT_ONE_WAY_GOODBYE = (
    "Thank you. You can hear me, but I can't hear you, so I'll end this call and we will "
    "call you back. Goodbye."
)
DEFAULT_RESUME_GREETING = "Welcome back. Let's continue where we left off."
DEFAULT_RECORDING_NOTICE = (
    "This interview is recorded for the hiring team. Press 9 to continue without recording."
)
# Barge-in: the caller's speech must last this long before it interrupts the interviewer
# (Voice Live's turn_detection speech_duration_ms): a cough or an "mm-hmm" is shorter.
DEFAULT_SPEECH_DURATION_MS = 250
SPEAKING_RATE_RANGE = (0.5, 2.0)  # Azure voices' rate: 1.0 is the voice's own pace


class ProfileError(ValueError):
    """A profile file is invalid; the message names the file and the field."""


@dataclass(frozen=True)
class Question:
    """One question, and what a good answer shows (for the rubric)."""

    text: str
    good_answer: str = ""


@dataclass(frozen=True)
class Profile:
    """One interview profile, as read from profiles/<name>.toml."""

    name: str
    role: str
    company: str
    language: str
    voice: str | None
    greeting: str
    questions: tuple[Question, ...]
    rubric: dict[int, str]  # score -> what it means; scores are the keys
    duration_min: float
    closing: str
    source: str = ""  # the file it came from
    extra: dict[str, str] = field(default_factory=dict)
    holding_line: str = DEFAULT_HOLDING_LINE
    silence_prompt_s: float = DEFAULT_SILENCE_S[0]
    silence_check_s: float = DEFAULT_SILENCE_S[1]
    silence_end_s: float = DEFAULT_SILENCE_S[2]
    silence_prompt: str = DEFAULT_SILENCE_PROMPT
    silence_check: str = DEFAULT_SILENCE_CHECK
    silence_goodbye: str = DEFAULT_SILENCE_GOODBYE
    one_way_goodbye: str = DEFAULT_ONE_WAY_GOODBYE
    speech_duration_ms: int = DEFAULT_SPEECH_DURATION_MS
    remove_filler_words: bool = True
    speaking_rate: float = 1.0
    resume_greeting: str = DEFAULT_RESUME_GREETING
    recording_notice: str = DEFAULT_RECORDING_NOTICE

    @property
    def score_range(self) -> tuple[int, int]:
        """The lowest and highest score the rubric allows."""
        return min(self.rubric), max(self.rubric)

    def question_number(self, text: str) -> int | None:
        """The 1-based number of the question with exactly this text, if any."""
        for number, question in enumerate(self.questions, start=1):
            if question.text == text:
                return number
        return None


# ---- parsing and validation ------------------------------------------------------------------


def _text(where: str, value: Any, *, required: bool = True) -> str:
    if not isinstance(value, str) or (required and not value.strip()):
        raise ProfileError(f"{where}: must be a non-empty string")
    text = " ".join(value.split())  # one line: the instructions are line-based
    if len(text) > MAX_TEXT:
        raise ProfileError(f"{where}: longer than {MAX_TEXT} characters")
    return text


def _questions(where: str, value: Any) -> tuple[Question, ...]:
    if not isinstance(value, list) or not value:
        raise ProfileError(f"{where}: must be a non-empty list of [[questions]] tables")
    if len(value) > MAX_QUESTIONS:
        raise ProfileError(f"{where}: at most {MAX_QUESTIONS} questions")
    found: list[Question] = []
    for n, entry in enumerate(value, start=1):
        at = f"{where}[{n}]"
        if not isinstance(entry, dict):
            raise ProfileError(f"{at}: must be a table with text and good_answer")
        unknown = sorted(set(entry) - {"text", "good_answer"})
        if unknown:
            raise ProfileError(f"{at}.{unknown[0]}: unknown field (expected text, good_answer)")
        if "text" not in entry:
            raise ProfileError(f"{at}.text: missing")
        if "good_answer" not in entry:
            raise ProfileError(f"{at}.good_answer: missing (what a good answer shows)")
        question = Question(_text(f"{at}.text", entry["text"]),
                            _text(f"{at}.good_answer", entry["good_answer"]))  # fmt: skip
        if any(q.text == question.text for q in found):
            raise ProfileError(f"{at}.text: the same question twice")
        found.append(question)
    return tuple(found)


def _rubric(where: str, value: Any) -> dict[int, str]:
    if not isinstance(value, dict) or len(value) < 2:
        raise ProfileError(f'{where}: must be a table of at least two scores, like 1 = "…"')
    rubric: dict[int, str] = {}
    for key, meaning in value.items():
        if not re.fullmatch(r"\d{1,3}", str(key)) or int(key) > 100:
            raise ProfileError(f"{where}.{key}: scores must be whole numbers from 0 to 100")
        rubric[int(key)] = _text(f"{where}.{key}", meaning)
    return dict(sorted(rubric.items()))


def _duration(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProfileError(f"{where}: must be a number of minutes")
    if not 1 <= value <= MAX_DURATION_MIN:
        raise ProfileError(f"{where}: must be between 1 and {MAX_DURATION_MIN} minutes")
    return float(value)


def _number(where: str, value: Any, low: float, high: float, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProfileError(f"{where}: must be a number of {unit}")
    if not low <= value <= high:
        raise ProfileError(f"{where}: must be between {low:g} and {high:g} {unit}")
    return float(value)


def _silence(data: Mapping[str, Any]) -> tuple[float, float, float]:
    names = ("silence_prompt_s", "silence_check_s", "silence_end_s")
    prompt, check, end = (_number(n, data.get(n, d), 1, 600, "seconds")
                          for n, d in zip(names, DEFAULT_SILENCE_S, strict=True))  # fmt: skip
    if not prompt < check < end:
        raise ProfileError("silence_check_s: must lie between silence_prompt_s and silence_end_s"
                           f" ({prompt:g} < {check:g} < {end:g} does not hold)")  # fmt: skip
    return prompt, check, end


def _flag(where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ProfileError(f"{where}: must be true or false")
    return value


def profile_from_dict(name: str, data: Mapping[str, Any], source: str = "") -> Profile:
    """A validated Profile from a parsed TOML document; ProfileError names the field."""
    if not NAME.fullmatch(name):
        raise ProfileError("file name: profile names are lowercase letters, digits, - and _")
    unknown = sorted(set(data) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise ProfileError(f"{unknown[0]}: unknown field (expected {', '.join(REQUIRED)}, "
                           f"{', '.join(OPTIONAL)})")  # fmt: skip
    for key in REQUIRED:
        if key not in data:
            raise ProfileError(f"{key}: missing")
    language = data.get("language", "en-US")
    if not isinstance(language, str) or not LANGUAGE.fullmatch(language):
        raise ProfileError(f"language: must be a language tag like en-US; got {language!r}")
    voice = data.get("voice")
    if voice is not None and (not isinstance(voice, str) or not VOICE.fullmatch(voice)):
        raise ProfileError(f"voice: must be a voice name like en-US-AvaNeural; got {voice!r}")
    silence = _silence(data)

    def line(key: str, default: str) -> str:
        return _text(key, data.get(key, default))

    extra = {}
    if "description" in data:
        extra["description"] = _text("description", data["description"])
    return Profile(
        name=name,
        role=_text("role", data["role"]),
        company=_text("company", data["company"]),
        language=language,
        voice=voice or None,
        greeting=_text("greeting", data["greeting"]),
        questions=_questions("questions", data["questions"]),
        rubric=_rubric("rubric", data["rubric"]),
        duration_min=_duration("duration_min", data["duration_min"]),
        closing=_text("closing", data["closing"]),
        source=source,
        extra=extra,
        holding_line=_text("holding_line", data.get("holding_line", DEFAULT_HOLDING_LINE)),
        silence_prompt_s=silence[0],
        silence_check_s=silence[1],
        silence_end_s=silence[2],
        silence_prompt=line("silence_prompt", DEFAULT_SILENCE_PROMPT),
        silence_check=line("silence_check", DEFAULT_SILENCE_CHECK),
        silence_goodbye=line("silence_goodbye", DEFAULT_SILENCE_GOODBYE),
        one_way_goodbye=line("one_way_goodbye", DEFAULT_ONE_WAY_GOODBYE),
        speech_duration_ms=int(
            _number(
                "speech_duration_ms",
                data.get("speech_duration_ms", DEFAULT_SPEECH_DURATION_MS),
                0,
                1000,
                "milliseconds",
            )
        ),
        remove_filler_words=_flag("remove_filler_words", data.get("remove_filler_words", True)),
        speaking_rate=_number(
            "speaking_rate",
            data.get("speaking_rate", 1.0),
            *SPEAKING_RATE_RANGE,
            "(1.0 is the voice's own pace)",
        ),
        resume_greeting=line("resume_greeting", DEFAULT_RESUME_GREETING),
        recording_notice=line("recording_notice", DEFAULT_RECORDING_NOTICE),
    )


def load_profile(path: Path) -> Profile:
    """One profile file; ProfileError says `<file>: <field>: <problem>`."""
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ProfileError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return profile_from_dict(path.stem, data, str(path))
    except ProfileError as exc:
        raise ProfileError(f"{path}: {exc}") from None


def load_profiles(directory: Path, default: str) -> dict[str, Profile]:
    """Every profiles/*.toml, validated; the default profile must be among them."""
    if not directory.is_dir():
        raise ProfileError(f"PROFILES_DIR: {directory} is not a directory")
    profiles = {p.name: p for p in map(load_profile, sorted(directory.glob("*.toml")))}
    if default not in profiles:
        raise ProfileError(
            f"DEFAULT_PROFILE: no {default}.toml in {directory} "
            f"(found: {', '.join(sorted(profiles)) or 'none'})"
        )
    return profiles
