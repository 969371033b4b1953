"""The fake Twilio REST API playing Twilio's part after a call is created: signed status
callbacks, async AMD results and the voice webhook, in any order the test asks for."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urlsplit

import httpx

from ..signing import twilio_signature
from .resources import FakeCall


class Callbacks:
    """Mixed into FakeTwilioRest (server.py), which holds the account and its token."""

    async def _post(self, url: str, params: dict[str, str]) -> httpx.Response:
        signature = twilio_signature(self.auth_token, url, params)
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(url, data=params, headers={"X-Twilio-Signature": signature})

    def _common(self, call: FakeCall) -> dict[str, str]:
        return {
            "CallSid": call.sid,
            "AccountSid": self.account_sid,
            "From": call.from_,
            "To": call.to,
            "Direction": "outbound-api",
            "ApiVersion": "2010-04-01",
        }

    async def status(
        self,
        call: FakeCall,
        status: str,
        *,
        sequence: int | None = None,
        duration: int | None = None,
        answered_by: str | None = None,
        at: datetime | None = None,
    ) -> httpx.Response:
        """POST a status callback (CallStatus, SequenceNumber counting from 0, Timestamp)."""
        url = call.one("StatusCallback")
        assert url, "the app asked for no status callback"
        if sequence is None:
            sequence = call.sequence
            call.sequence += 1
        if status in ("completed", "busy", "no-answer", "failed", "canceled"):
            call.status = status
        params = {
            **self._common(call),
            "CallStatus": status,
            "SequenceNumber": str(sequence),
            "Timestamp": format_datetime(at or datetime.now(UTC)),
            "CallbackSource": "call-progress-events",
        }
        if duration is not None:
            params["CallDuration"] = str(duration)
        if answered_by:
            params["AnsweredBy"] = answered_by
        return await self._post(url, params)

    async def amd(
        self, call: FakeCall, answered_by: str, detect_ms: int = 2400, *, base: str | None = None
    ) -> httpx.Response:
        """POST the async AMD result to AsyncAmdStatusCallback (`base`: through another replica,
        e.g. http://127.0.0.1:PORT, as a load balancer may route it)."""
        url = call.one("AsyncAmdStatusCallback")
        assert url, "the app asked for no async AMD callback"
        if base is not None:
            parts = urlsplit(url)
            url = base.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")
        params = {
            "CallSid": call.sid,
            "AccountSid": self.account_sid,
            "AnsweredBy": answered_by,
            "MachineDetectionDuration": str(detect_ms),
        }
        return await self._post(url, params)

    async def voice(self, call: FakeCall, url: str | None = None) -> httpx.Response:
        """Request the call's TwiML (the voice URL, or a <Redirect> URL) as Twilio does."""
        target = url or call.url
        assert target
        return await self._post(target, {**self._common(call), "CallStatus": "in-progress"})
