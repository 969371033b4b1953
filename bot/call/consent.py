"""Recording consent, sans I/O: the notice is said first, word for word; key 9 opts out."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from bot.call.core import CallCore

log = structlog.get_logger("bot.call")

OPT_OUT_KEY = "9"
MODES = ("off", "notice", "on")
# What the call record keeps (calls.recording_consent)
OFF, NOTICE_GIVEN, OPTED_OUT, ON = "off", "notice_given", "opted_out", "on"


def initial(mode: str, notice: str) -> str:
    """The consent a call starts with: RECORDING=off or on as set; `notice` records once the
    notice is said, unless the profile has no notice (then nothing is recorded)."""
    if mode == "notice":
        return NOTICE_GIVEN if notice else OFF
    return ON if mode == "on" else OFF


def first_line(consent: str, notice: str, greeting: str) -> str:
    """The greeting, opened by the notice word for word when it is given."""
    return f"{notice} {greeting}" if consent == NOTICE_GIVEN else greeting


def started(core: CallCore) -> None:
    """The call starts: what was agreed goes in the call record, with the time."""
    core.record.recording(
        recording_consent=core.consent, recording_consent_at=core.record.at(core.now)
    )
    log.info("call.recording_consent", consent=core.consent)


def opt_out(core: CallCore, digit: str) -> bool:
    """Key 9 after the notice (any time in the call; the notice is said first): recording
    stops and what was written is deleted (the record stops its recording, see
    CallRecorder.recording). True when the key was taken for this."""
    if digit != OPT_OUT_KEY or core.consent != NOTICE_GIVEN:
        return False
    core.consent = OPTED_OUT
    core.record.recording(
        recording_consent=OPTED_OUT, recording_consent_at=core.record.at(core.now)
    )
    log.info("call.recording_consent", consent=OPTED_OUT)
    return True
