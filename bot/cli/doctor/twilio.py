"""Twilio checks: the credentials fetch an active account; the number is ours and points here."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bot.cli.doctor.report import Check, failed, passed, safe_url, skipped
from bot.config import Settings
from bot.observability.logs import mask_phone
from bot.timeouts import within
from bot.twilio.rest import RestError, TwilioRest

CREDENTIALS_FIX = (
    "set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN to the account's SID and auth token "
    "(Twilio Console, Account info)"
)


def rest_client(settings: Settings) -> TwilioRest | None:
    if not settings.twilio_account_sid or settings.dev_mode:
        return None
    return TwilioRest(
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        settings.twilio_api_url,
        settings.dialer.rest_timeout_s,
    )


async def _call(settings: Settings, request: Callable[[], Any]) -> Any:
    """One REST request off the event loop, bounded even if the HTTP client's timeout is not."""
    return await within(asyncio.to_thread(request), settings.dialer.rest_timeout_s + 2)


def _rest_failure(name: str, exc: BaseException, fix: str) -> Check:
    if isinstance(exc, TimeoutError):
        return failed(name, "no answer from the Twilio API in time", "check TWILIO_API_URL")
    assert isinstance(exc, RestError)
    if exc.http_status in (401, 403) or exc.code == 20003:
        return failed(name, f"Twilio refused the credentials ({exc})", CREDENTIALS_FIX)
    return failed(name, f"Twilio API error: {exc}", fix)


async def check_account(settings: Settings, rest: TwilioRest | None) -> Check:
    """GET /2010-04-01/Accounts/{sid}.json: the account exists and is active."""
    name = "twilio_account"
    if rest is None:
        missing = "TWILIO_ACCOUNT_SID" if not settings.twilio_account_sid else "Twilio settings"
        return failed(name, f"{missing} not set (no Twilio account to check)", CREDENTIALS_FIX)
    try:
        account = await _call(settings, rest.fetch_account)
    except (RestError, TimeoutError) as exc:
        return _rest_failure(name, exc, "check TWILIO_ACCOUNT_SID and TWILIO_API_URL")
    kind = f"{account['type']}, {account['status']}"
    found = f'{account["sid"]} "{account["friendly_name"]}" ({kind})'
    if account["status"] != "active":
        return failed(
            name,
            f"account {found} is not active",
            "reactivate the account in the Twilio Console (add funds if it was suspended)",
        )
    if account["type"] == "Trial":
        found += "; a trial account calls verified numbers only"
    return passed(name, f"account {found}")


def _wanted(settings: Settings) -> dict[str, str]:
    return {
        "voice_url": settings.url_for("/twilio/voice"),
        "voice_method": "POST",
        "status_callback": settings.url_for("/twilio/status"),
        "status_callback_method": "POST",
    }


LABELS = {
    "voice_url": "VoiceUrl",
    "voice_method": "VoiceMethod",
    "status_callback": "StatusCallback",
    "status_callback_method": "StatusCallbackMethod",
    "voice_application_sid": "VoiceApplicationSid",
}


def _mismatches(number: dict[str, str], wanted: dict[str, str]) -> list[str]:
    problems = [
        f"{LABELS[key]} is {safe_url(number[key]) or '(empty)'}, not {value}"
        for key, value in wanted.items()
        if number[key] != value
    ]
    if number.get("voice_application_sid"):
        problems.append(f"calls go to TwiML App {number['voice_application_sid']}, not VoiceUrl")
    return problems


async def check_number(
    settings: Settings, rest: TwilioRest | None, account: Check, *, fix: bool
) -> Check:
    """TWILIO_PHONE_NUMBER is the account's, and its voice URL and status callback are ours;
    with `fix`, set them (POST IncomingPhoneNumbers/{sid}.json)."""
    name = "twilio_number"
    phone = settings.twilio_phone_number
    if not phone:
        return failed(name, "TWILIO_PHONE_NUMBER not set", "set TWILIO_PHONE_NUMBER to the "
                      "account's number in E.164 form (+, country code, number)")  # fmt: skip
    if rest is None or not account.ok:
        return skipped(name, "twilio_account failed", "fix twilio_account first")
    shown = mask_phone(phone)
    try:
        numbers = await _call(settings, lambda: rest.find_numbers(phone))
    except (RestError, TimeoutError) as exc:
        return _rest_failure(name, exc, "check TWILIO_PHONE_NUMBER")
    if not numbers:
        return failed(
            name,
            f"{shown} is not a number of this account",
            "set TWILIO_PHONE_NUMBER to a number the account owns (Twilio Console, Phone "
            "Numbers, Active numbers), or buy one",
        )
    number, wanted = numbers[0], _wanted(settings)
    problems = _mismatches(number, wanted)
    if number.get("trunk_sid"):
        return failed(
            name,
            f"{shown} ({number['sid']}) routes calls to SIP trunk {number['trunk_sid']}",
            "remove the number from the trunk in the Twilio Console",
        )
    if not problems:
        return passed(name, f"{shown} ({number['sid']}) calls {wanted['voice_url']}, "
                      f"status to {wanted['status_callback']}")  # fmt: skip
    if not fix:
        return failed(
            name,
            f"{shown} ({number['sid']}): " + "; ".join(problems),
            "run `bot doctor --fix-twilio` to point it here (or set it in the Twilio Console)",
        )
    changes = {k: v for k, v in wanted.items() if number[k] != v}
    if number.get("voice_application_sid"):
        changes["voice_application_sid"] = ""
    try:
        updated = await _call(settings, lambda: rest.update_number(number["sid"], **changes))
    except (RestError, TimeoutError) as exc:
        return _rest_failure(name, exc, "set the URLs in the Twilio Console instead")
    left = _mismatches(updated, wanted)
    if left:
        return failed(name, f"{shown}: updated, but " + "; ".join(left),
                      "set the URLs in the Twilio Console")  # fmt: skip
    said = "; ".join(
        f"{LABELS[k]} from {safe_url(number.get(k, '')) or '(empty)'} to {v or '(none)'}"
        for k, v in changes.items()
    )
    return passed(name, f"{shown} ({number['sid']}): changed {said} (--fix-twilio)")
