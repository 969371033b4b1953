"""Every TwiML document the bot answers: those ops edit in TWIML_DIR, and those built per call.

The editable ones (call back later, at capacity, voicemail) are read from TWIML_DIR and checked
once at start-up (`load_twiml`); a file that is absent falls back to the built-in text. The
rest carry per-call URLs, tokens and wording, so they are built here with twilio-python.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from twilio.twiml.voice_response import Connect, Gather, VoiceResponse

from bot.config import ConfigError

# ---- built per call ------------------------------------------------------------------------

APOLOGY = (
    "We're sorry, the interviewer is not available right now. "
    "Please try again in a few minutes. Goodbye."
)


def connect_twiml(
    *,
    stream_url: str,
    token: str,
    action_url: str,
    status_url: str,
    parameters: Mapping[str, str] | None = None,
) -> str:
    """TwiML that opens the bidirectional media stream, carrying the token and call facts."""
    response = VoiceResponse()
    connect = Connect(action=action_url, method="POST")
    stream = connect.stream(
        url=stream_url, status_callback=status_url, status_callback_method="POST"
    )
    stream.parameter(name="token", value=token)
    for name, value in (parameters or {}).items():
        stream.parameter(name=name, value=value)
    response.append(connect)
    return str(response)


def redirect_twiml(url: str) -> str:
    """TwiML that has Twilio request `url` (POST) for the call's next instructions."""
    response = VoiceResponse()
    response.redirect(url, method="POST")
    return str(response)


def wait_twiml(url: str) -> str:
    """Hold one second (silence), then request `url` (POST) again."""
    response = VoiceResponse()
    response.pause(length=1)
    response.redirect(url, method="POST")
    return str(response)


def hangup_twiml(say: str | None = None) -> str:
    """TwiML that (optionally) says a sentence and hangs up."""
    response = VoiceResponse()
    if say:
        response.say(say)
    response.hangup()
    return str(response)


def gather_digits_twiml(action_url: str, prompt: str, *, digits: int, timeout_s: int) -> str:
    """<Gather> up to `digits` keypad digits while saying `prompt`, posting them (even none)
    to action_url."""
    response = VoiceResponse()
    gather = Gather(
        input="dtmf",
        num_digits=digits,
        timeout=timeout_s,
        action=action_url,
        method="POST",
        action_on_empty_result=True,
    )
    gather.say(prompt)
    response.append(gather)
    return str(response)


# ---- editable in TWIML_DIR -----------------------------------------------------------------

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
    """The editable documents, read and checked once at start-up."""

    call_back_shortly: str = BUILT_IN[CALL_BACK_SHORTLY]  # a draining replica's refusal
    at_capacity: str = BUILT_IN[AT_CAPACITY]  # a full replica's refusal
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
    """Read every editable document from `directory`; raise ConfigError naming a bad file."""
    return TwimlDocs(
        call_back_shortly=_load(directory, CALL_BACK_SHORTLY),
        at_capacity=_load(directory, AT_CAPACITY),
        voicemail=_load(directory, VOICEMAIL),
    )
