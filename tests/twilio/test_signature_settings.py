"""Webhooks signed the newer way (X-Twilio-Webhooks-Signature-Settings, HMAC-SHA256 with a
SharedKey): validated as the header says, or refused (403) with a line naming the header and
what to change."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from structlog.testing import capture_logs

from bot.twilio import signing as webhooks
from tests.fakes.signing import twilio_signature
from tests.support import AUTH_TOKEN, make_settings, running_app

SHARED_KEY = "shared-key-secret-0123456789"
HEADER = "X-Twilio-Webhooks-Signature-Settings"
SETTINGS = "key=webhooks_sharedkey_0123,algorithm=HMAC_SHA256"
FORM = {"CallSid": "CA" + "1" * 32, "CallStatus": "ringing", "AccountSid": "AC" + "0" * 32}


async def post_status(tmp_path: Path, headers_for: list[dict[str, str]], **env: str) -> list[int]:
    settings = make_settings(tmp=tmp_path, VOICE_LIVE_ENDPOINT="http://127.0.0.1:9", **env)
    codes = []
    async with running_app(settings) as (base, _app), httpx.AsyncClient(timeout=10) as client:
        for headers in headers_for:
            response = await client.post(f"{base}/twilio/status", data=FORM, headers=headers)
            codes.append(response.status_code)
    return codes


def signed(base_url: str, secret: str, *, sha256: bool) -> str:
    return twilio_signature(secret, f"{base_url}/twilio/status", FORM, sha256=sha256)


async def test_sha256_with_the_shared_key_is_accepted_and_anything_else_refused(
    tmp_path: Path,
) -> None:
    assert webhooks.SIGNATURE_SETTINGS_SUPPORTED  # the installed twilio-python reads the header
    settings = make_settings(tmp=tmp_path)  # only for the public URL the signatures cover
    base = settings.public_url
    port = settings.port
    cases = [
        {"X-Twilio-Signature": signed(base, SHARED_KEY, sha256=True), HEADER: SETTINGS},
        {"X-Twilio-Signature": signed(base, AUTH_TOKEN, sha256=False)},  # the classic signing
        {"X-Twilio-Signature": signed(base, AUTH_TOKEN, sha256=False), HEADER: SETTINGS},
        {"X-Twilio-Signature": signed(base, "another-key-0123", sha256=True), HEADER: SETTINGS},
    ]
    with capture_logs() as logs:
        codes = await post_status(
            tmp_path, cases, PORT=str(port), PUBLIC_URL=base, TWILIO_WEBHOOK_SHARED_KEY=SHARED_KEY
        )
    assert codes == [204, 204, 403, 403]
    rejected = [e for e in logs if e["event"] == "webhook.rejected"]
    assert len(rejected) == 2
    assert "HMAC_SHA256" in rejected[0]["reason"]
    assert "webhooks_sharedkey_0123" in rejected[0]["reason"]
    assert SHARED_KEY not in str(logs)


async def test_without_the_shared_key_the_refusal_says_which_setting_to_set(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp=tmp_path)
    base, port = settings.public_url, settings.port
    cases = [{"X-Twilio-Signature": signed(base, SHARED_KEY, sha256=True), HEADER: SETTINGS}]
    with capture_logs() as logs:
        codes = await post_status(tmp_path, cases, PORT=str(port), PUBLIC_URL=base)
    assert codes == [403]
    [line] = [e for e in logs if e["event"] == "webhook.rejected"]
    assert line["log_level"] == "warning"
    assert "TWILIO_WEBHOOK_SHARED_KEY" in line["fix"] and HEADER in line["reason"]


async def test_a_twilio_python_that_cannot_read_the_header_refuses_and_says_what_to_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhooks, "SIGNATURE_SETTINGS_SUPPORTED", False)
    settings = make_settings(tmp=tmp_path)
    base, port = settings.public_url, settings.port
    cases = [
        {"X-Twilio-Signature": signed(base, SHARED_KEY, sha256=True), HEADER: SETTINGS},
        {"X-Twilio-Signature": signed(base, AUTH_TOKEN, sha256=False)},  # still fine
    ]
    with capture_logs() as logs:
        codes = await post_status(
            tmp_path, cases, PORT=str(port), PUBLIC_URL=base, TWILIO_WEBHOOK_SHARED_KEY=SHARED_KEY
        )
    assert codes == [403, 204]
    [line] = [e for e in logs if e["event"] == "webhook.rejected"]
    assert line["log_level"] == "warning"
    assert HEADER in line["reason"]
    assert "switch the account's webhook signing back to HMAC-SHA1" in line["fix"]
    assert "upgrade twilio-python" in line["fix"]


def test_check_signature_for_the_media_stream_upgrade() -> None:
    url = "wss://bot.example.com/twilio/media"
    sha256 = twilio_signature(SHARED_KEY, url, sha256=True)
    assert webhooks.check_signature(AUTH_TOKEN, url, {}, sha256, SETTINGS, SHARED_KEY).ok
    assert not webhooks.check_signature(AUTH_TOKEN, url, {}, sha256, "", SHARED_KEY).ok
    odd = webhooks.check_signature(AUTH_TOKEN, url, {}, sha256, "algorithm=HMAC_MD5", SHARED_KEY)
    assert not odd.ok and "HMAC_MD5" in odd.reason
