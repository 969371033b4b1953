"""What the fake Twilio REST API holds and answers with: calls created through it, the
account's phone numbers, errors it is told to give, and Twilio's error body."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from starlette.responses import JSONResponse

API = "/2010-04-01/Accounts/{account}"
E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
STATUS_EVENTS = {"initiated", "ringing", "answered", "completed"}


@dataclass
class Failure:
    """An error the fake answers with instead of creating a call."""

    status: int
    code: int
    message: str


@dataclass
class FakeCall:
    """One call created through the fake, and what the app asked of it."""

    sid: str
    to: str
    from_: str
    form: dict[str, list[str]]
    created_at: datetime
    status: str = "queued"
    sequence: int = 0
    updates: list[dict[str, str]] = field(default_factory=list)

    def one(self, name: str) -> str | None:
        values = self.form.get(name)
        return values[-1] if values else None

    @property
    def url(self) -> str | None:
        return self.one("Url")

    @property
    def query(self) -> dict[str, str]:
        """The query of the voice URL the app gave (it names the interview and attempt)."""
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.url or "").query).items()}


@dataclass
class FakeNumber:
    """One IncomingPhoneNumber of the account (a number it bought from Twilio)."""

    sid: str
    phone_number: str
    voice_url: str = ""
    voice_method: str = "POST"
    status_callback: str = ""
    status_callback_method: str = "POST"
    friendly_name: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updates: list[dict[str, str]] = field(default_factory=list)


# IncomingPhoneNumber update parameters the fake applies (form name -> attribute)
NUMBER_FIELDS = {
    "VoiceUrl": "voice_url",
    "VoiceMethod": "voice_method",
    "StatusCallback": "status_callback",
    "StatusCallbackMethod": "status_callback_method",
    "FriendlyName": "friendly_name",
}


def error(status: int, code: int, message: str) -> JSONResponse:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return JSONResponse(body, status_code=status)
