"""bot/twilio/twiml.py: every document byte for byte, and ops' edits in TWIML_DIR served."""

from __future__ import annotations

from pathlib import Path

from bot.http.gate import ask_twiml
from bot.http.health import refuse_call
from bot.interview.context import InterviewContext
from bot.interview.profiles import Profile
from bot.runtime import build_runtime
from bot.store import Store, database_url
from bot.twilio import twiml
from bot.voicelive.client import VoiceLiveConnection, VoiceLiveUnavailable
from tests.contract.twilio import twiml_errors
from tests.support import make_settings

HEAD = '<?xml version="1.0" encoding="UTF-8"?>'


async def no_model(_profile: Profile, _context: InterviewContext) -> VoiceLiveConnection:
    raise VoiceLiveUnavailable("no model in these tests")


def test_built_documents_byte_for_byte() -> None:
    assert twiml.hangup_twiml() == f"{HEAD}<Response><Hangup /></Response>"
    assert twiml.hangup_twiml("Bye & thanks.") == (
        f"{HEAD}<Response><Say>Bye &amp; thanks.</Say><Hangup /></Response>"
    )
    assert twiml.redirect_twiml("https://b/twilio/voice?a=1&b=2") == (
        f'{HEAD}<Response><Redirect method="POST">https://b/twilio/voice?a=1&amp;b=2</Redirect>'
        "</Response>"
    )
    assert twiml.wait_twiml("https://b/v?wait=1") == (
        f'{HEAD}<Response><Pause length="1" /><Redirect method="POST">https://b/v?wait=1'
        "</Redirect></Response>"
    )
    assert ask_twiml("https://b/twilio/code", 2, "Key it in.") == (
        f'{HEAD}<Response><Gather action="https://b/twilio/code?attempt=2" '
        'actionOnEmptyResult="true" input="dtmf" method="POST" numDigits="6" timeout="10">'
        "<Say>Key it in.</Say></Gather></Response>"
    )
    connect = twiml.connect_twiml(
        stream_url="wss://b/twilio/media",
        token="t",
        action_url="https://b/twilio/stream-ended",
        status_url="https://b/twilio/status",
        parameters={"profile": "practice"},
    )
    assert connect == (
        f'{HEAD}<Response><Connect action="https://b/twilio/stream-ended" method="POST">'
        '<Stream statusCallback="https://b/twilio/status" statusCallbackMethod="POST" '
        'url="wss://b/twilio/media"><Parameter name="token" value="t" />'
        '<Parameter name="profile" value="practice" /></Stream></Connect></Response>'
    )
    for document in (twiml.redirect_twiml("https://b/x"), connect):
        assert twiml_errors(document) == []


def test_an_empty_twiml_dir_serves_the_built_in_documents(tmp_path: Path) -> None:
    docs = twiml.load_twiml(tmp_path)
    assert docs == twiml.TwimlDocs()
    assert docs.voicemail == twiml.BUILT_IN[twiml.VOICEMAIL]


async def test_edited_documents_in_twiml_dir_are_what_is_served(tmp_path: Path) -> None:
    """Every editable document comes from TWIML_DIR (in the image /app/twiml), voicemail too."""
    docs = tmp_path / "twiml"
    docs.mkdir()
    edited = {
        name: f"<Response><Say>Edited {name}.</Say><Hangup/></Response>"
        for name in (twiml.CALL_BACK_SHORTLY, twiml.AT_CAPACITY, twiml.VOICEMAIL)
    }
    for name, text in edited.items():
        (docs / name).write_text(text)
    settings = make_settings(tmp=tmp_path, TWIML_DIR=str(docs), MAX_CONCURRENT_CALLS="1")
    store = await Store.open(database_url(None, tmp_path))
    try:
        runtime = build_runtime(settings, no_model, store=store)  # reads TWIML_DIR itself
    finally:
        await store.close()
    assert runtime.twiml.voicemail == edited[twiml.VOICEMAIL]
    assert runtime.dialer is not None and runtime.dialer.voicemail == edited[twiml.VOICEMAIL]
    runtime.sessions.prepare("CA1", InterviewContext())  # a stream on its way: full
    full = refuse_call(runtime, "CA2")
    runtime.draining = True
    draining = refuse_call(runtime, "CA2")
    await runtime.sessions.close()
    assert full is not None and bytes(full.body).decode() == edited[twiml.AT_CAPACITY]
    assert (
        draining is not None and bytes(draining.body).decode() == (edited[twiml.CALL_BACK_SHORTLY])
    )
