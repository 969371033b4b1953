"""The TwiML documents ops may edit in TWIML_DIR: call back later, at capacity, voicemail."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from bot.config import ConfigError
from bot.twilio.webhooks import hangup_twiml

CALL_BACK_SHORTLY = "call-back-shortly.xml"
AT_CAPACITY = "at-capacity.xml"
VOICEMAIL = "voicemail.xml"
VOICEMAIL_MAX_CHARS = 4000  # it goes to Twilio inline (calls(sid).update(twiml=…)), capped there
# Used when the file is absent (e.g. `bot serve` started outside the project directory).
BUILT_IN = {
    CALL_BACK_SHORTLY: hangup_twiml(
        "Thank you for calling. The interviewer is being updated right now. "
        "Please call back in a few minutes. Goodbye."
    ),
    AT_CAPACITY: hangup_twiml(
        "Thank you for calling. All of our interviewers are busy right now. "
        "Please call back in a few minutes. Goodbye."
    ),
    VOICEMAIL: hangup_twiml(
        "Hello, this is the interview assistant calling about your scheduled interview. "
        "We will call you again later. Goodbye."
    ),
}
MAX_BYTES = 16 * 1024


@dataclass(frozen=True)
class TwimlDocs:
    """The documents, read and checked once at start-up."""

    call_back_shortly: str
    at_capacity: str
    voicemail: str = BUILT_IN[VOICEMAIL]  # left on an answering machine (the dialer)


def _load(directory: Path, name: str) -> str:
    path = directory / name
    if not path.is_file():
        return BUILT_IN[name]
    text = path.read_text(encoding="utf-8")
    if len(text.encode()) > MAX_BYTES:
        raise ConfigError(f"TWIML_DIR: {path}: larger than {MAX_BYTES} bytes")
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise ConfigError(f"TWIML_DIR: {path}: not well-formed XML ({exc})") from None
    if root.tag != "Response":
        raise ConfigError(f"TWIML_DIR: {path}: the root element must be <Response>")
    if name == VOICEMAIL and len(text.strip()) > VOICEMAIL_MAX_CHARS:
        raise ConfigError(
            f"TWIML_DIR: {path}: longer than {VOICEMAIL_MAX_CHARS} characters (Twilio's limit "
            "for TwiML sent with a call update)"
        )
    return text.strip() if name == VOICEMAIL else text


def load_twiml(directory: Path) -> TwimlDocs:
    """Read the documents from `directory`; raise ConfigError naming a bad file."""
    return TwimlDocs(
        call_back_shortly=_load(directory, CALL_BACK_SHORTLY),
        at_capacity=_load(directory, AT_CAPACITY),
        voicemail=_load(directory, VOICEMAIL),
    )
