"""Placing and updating calls with twilio-python (synchronous: run it off the event loop).

twilio.rest and the `requests` stack under it (~5 MB resident) are imported when the first
request is made, not when the dialer is built at start: a replica that never dials never
loads them.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twilio.base.exceptions import TwilioException, TwilioRestException

if TYPE_CHECKING:
    from twilio.rest import Client

STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]
# twilio-python logs every request with its form (phone numbers) at INFO: keep it quiet.
_QUIET = logging.getLogger("bot.twilio.rest.http")
_QUIET.setLevel(logging.WARNING)


@dataclass
class RestError(Exception):
    """Twilio refused a request (http_status and code set), or never answered (both None)."""

    http_status: int | None
    code: int | None
    message: str
    sent: bool = True  # False when the request surely never reached Twilio

    def __str__(self) -> str:
        return f"HTTP {self.http_status} code {self.code}: {self.message}"


def _message(exc: TwilioRestException) -> str:
    """Twilio's own message (twilio-python prefixes "Unable to create record: ")."""
    return re.sub(r"^Unable to \w+ record: ", "", exc.msg or "") or str(exc)


def _maybe_sent(exc: OSError) -> bool:
    """False only when the connection was never made (refused, connect timeout)."""
    import requests

    if isinstance(exc, requests.ConnectTimeout):
        return False
    return not (isinstance(exc, requests.ConnectionError) and "NewConnectionError" in str(exc))


class TwilioRest:
    """The REST calls the dialer (calls) and `bot doctor` (account, numbers) make, against
    TWILIO_API_URL, with a timeout."""

    def __init__(self, account_sid: str, auth_token: str, base_url: str, timeout_s: float) -> None:
        self._credentials = (account_sid, auth_token)
        self._base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s
        self._lazy: Client | None = None
        self._lock = threading.Lock()  # requests run in worker threads: one client for all

    @property
    def _client(self) -> Client:
        """twilio-python's client, built (and twilio.rest imported) on first use."""
        with self._lock:
            if self._lazy is None:
                from twilio.http.http_client import TwilioHttpClient
                from twilio.rest import Client

                # No retries: a POST could dial twice.
                http = TwilioHttpClient(timeout=self._timeout_s, logger=_QUIET)
                client = Client(*self._credentials, http_client=http)
                client.api.base_url = self._base_url
                self._lazy = client
            return self._lazy

    def create_call(
        self,
        *,
        to: str,
        from_: str,
        url: str,
        status_callback: str,
        amd_callback: str,
        ring_timeout_s: int = 30,
        time_limit_s: int = 14400,
    ) -> str:
        """Place a call (async AMD, signed status callbacks); its CallSid. Raises RestError."""
        try:
            call = self._client.calls.create(
                to=to,
                from_=from_,
                url=url,
                method="POST",
                status_callback=status_callback,
                status_callback_method="POST",
                status_callback_event=STATUS_EVENTS,
                machine_detection="DetectMessageEnd",
                async_amd="true",
                async_amd_status_callback=amd_callback,
                async_amd_status_callback_method="POST",
                timeout=ring_timeout_s,
                time_limit=time_limit_s,
            )
        except TwilioRestException as exc:
            raise RestError(exc.status, exc.code, _message(exc)) from None
        except TwilioException as exc:
            raise RestError(None, None, str(exc) or type(exc).__name__) from None
        except OSError as exc:  # requests' errors: refused, reset, timed out
            raise RestError(
                None, None, f"{type(exc).__name__}: {exc}", sent=_maybe_sent(exc)
            ) from None
        if not call.sid:
            raise RestError(None, None, "Twilio answered without a CallSid")
        return call.sid

    def update_call(
        self, call_sid: str, *, twiml: str | None = None, status: str | None = None
    ) -> None:
        """Redirect a live call to new TwiML, or end it (status='completed')."""
        kwargs = {"twiml": twiml} if twiml is not None else {"status": status}
        try:
            self._client.calls(call_sid).update(**kwargs)
        except TwilioRestException as exc:
            raise RestError(exc.status, exc.code, _message(exc)) from None
        except (TwilioException, OSError) as exc:
            raise RestError(None, None, f"{type(exc).__name__}: {exc}") from None

    def _run(self, request: Any) -> Any:
        """Run one twilio-python request, mapping its failures to RestError."""
        try:
            return request()
        except TwilioRestException as exc:
            raise RestError(exc.status, exc.code, _message(exc)) from None
        except (TwilioException, OSError) as exc:
            raise RestError(None, None, f"{type(exc).__name__}: {exc}") from None

    def fetch_account(self) -> dict[str, str]:
        """The account these credentials belong to: sid, friendly_name, status, type."""
        account = self._run(lambda: self._client.api.v2010.accounts(self._client.username).fetch())
        return {
            "sid": account.sid or "",
            "friendly_name": account.friendly_name or "",
            "status": str(account.status or ""),
            "type": str(account.type or ""),
        }

    def find_numbers(self, phone_number: str) -> list[dict[str, str]]:
        """The account's IncomingPhoneNumbers matching this E.164 number exactly."""
        found = self._run(
            lambda: self._client.incoming_phone_numbers.list(phone_number=phone_number, limit=20)
        )
        return [_number(n) for n in found if n.phone_number == phone_number]

    def update_number(self, sid: str, **fields: str) -> dict[str, str]:
        """Update an IncomingPhoneNumber (voice_url, voice_method, status_callback, …)."""
        return _number(self._run(lambda: self._client.incoming_phone_numbers(sid).update(**fields)))


def _number(n: Any) -> dict[str, str]:
    return {
        "sid": n.sid or "",
        "phone_number": n.phone_number or "",
        "voice_url": n.voice_url or "",
        "voice_method": (n.voice_method or "").upper(),
        "status_callback": n.status_callback or "",
        "status_callback_method": (n.status_callback_method or "").upper(),
        "voice_application_sid": n.voice_application_sid or "",
        "trunk_sid": n.trunk_sid or "",
    }
