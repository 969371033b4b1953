"""Twilio webhook helpers: signature checks, the TwiML we answer, and per-call stream tokens."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Mapping

from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Connect, VoiceResponse

APOLOGY = (
    "We're sorry, the interviewer is not available right now. "
    "Please try again in a few minutes. Goodbye."
)


def signature_ok(auth_token: str, url: str, params: Mapping[str, str], signature: str) -> bool:
    """True when X-Twilio-Signature matches the public URL and the POST parameters."""
    if not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, dict(params), signature))


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


def hangup_twiml(say: str | None = None) -> str:
    """TwiML that (optionally) says a sentence and hangs up."""
    response = VoiceResponse()
    if say:
        response.say(say)
    response.hangup()
    return str(response)


_TOKEN = re.compile(r"[0-9]{1,12}\.[0-9a-f]{16}\.[0-9a-f]{32}")


class TokenError(ValueError):
    """A stream token was refused; the message says why (never the token itself)."""


class StreamTokens:
    """Short-lived, single-use tokens bound to a CallSid.

    Tokens are HMAC-signed, so any replica can check one minted by another; each
    replica remembers the nonces it has accepted until they expire (single use).
    """

    def __init__(
        self, secret: str, ttl_s: float = 60.0, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = hmac.new(secret.encode(), b"stream-token-v1", hashlib.sha256).digest()
        self.ttl_s = ttl_s
        self._clock = clock
        self._used: dict[str, float] = {}

    def _mac(self, call_sid: str, expires: int, nonce: str) -> str:
        msg = f"{call_sid}|{expires}|{nonce}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()[:32]

    def mint(self, call_sid: str) -> str:
        """A fresh token for this call."""
        expires = int(self._clock() + self.ttl_s)
        nonce = secrets.token_hex(8)
        return f"{expires}.{nonce}.{self._mac(call_sid, expires, nonce)}"

    def redeem(self, token: str, call_sid: str) -> None:
        """Accept the token once for this call, or raise TokenError with the reason."""
        now = self._clock()
        self._used = {n: exp for n, exp in self._used.items() if exp >= now}
        if not token or not _TOKEN.fullmatch(token):
            raise TokenError("stream token missing or malformed")
        parts = token.split(".")
        expires, nonce, mac = int(parts[0]), parts[1], parts[2]
        if not hmac.compare_digest(mac, self._mac(call_sid, expires, nonce)):
            raise TokenError("stream token does not match this CallSid")
        if expires < now:
            raise TokenError("stream token expired")
        if nonce in self._used:
            raise TokenError("stream token already used")
        self._used[nonce] = expires
