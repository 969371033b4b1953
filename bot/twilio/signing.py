"""Twilio webhook helpers: signature checks and per-call stream tokens (TwiML: bot.twilio.twiml)."""

from __future__ import annotations

import hashlib
import hmac
import inspect
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from twilio import request_validator
from twilio.request_validator import RequestValidator

from bot.timeouts import within

log = structlog.get_logger(__name__)

SIGNATURE_SETTINGS = "X-Twilio-Webhooks-Signature-Settings"


def _reads_signature_settings() -> bool:
    """Whether the installed twilio-python validates the newer signing (9.13+: an algorithm)."""
    validate = getattr(RequestValidator, "validate", None)
    return hasattr(request_validator, "get_signature_algorithm") and (
        validate is not None and "algorithm" in inspect.signature(validate).parameters
    )


SIGNATURE_SETTINGS_SUPPORTED = _reads_signature_settings()


@dataclass(frozen=True)
class SignatureCheck:
    """The verdict on a request's signature; when refused, why and what to change (no secrets)."""

    ok: bool
    reason: str = ""
    fix: str = ""

    def __bool__(self) -> bool:
        return self.ok


def _settings_key(header: str) -> str:
    """The SharedKey id the signature-settings header names (an id, not a secret)."""
    for part in header.split(","):
        name, _, value = part.partition("=")
        if name.strip() == "key":
            return value.strip()
    return ""


def check_signature(
    auth_token: str,
    url: str,
    params: Mapping[str, str],
    signature: str,
    signature_settings: str = "",
    shared_key: str | None = None,
) -> SignatureCheck:
    """Check X-Twilio-Signature: HMAC-SHA1 with the auth token, or, when the request carries
    X-Twilio-Webhooks-Signature-Settings, the algorithm it names, with the SharedKey secret
    (TWILIO_WEBHOOK_SHARED_KEY; the auth token when that is unset)."""
    if not signature:
        return SignatureCheck(False, "missing X-Twilio-Signature")
    if not signature_settings:
        if RequestValidator(auth_token).validate(url, dict(params), signature):
            return SignatureCheck(True)
        return SignatureCheck(False, "bad X-Twilio-Signature")
    if not SIGNATURE_SETTINGS_SUPPORTED:
        return SignatureCheck(
            False,
            f"request carries {SIGNATURE_SETTINGS} ({signature_settings[:100]}), which the "
            "installed twilio-python cannot validate",
            "switch the account's webhook signing back to HMAC-SHA1 with the auth token, "
            "or upgrade twilio-python to 9.13 or later",
        )
    algorithm = request_validator.get_signature_algorithm(signature_settings)
    key_id = _settings_key(signature_settings)
    if algorithm.upper() not in (request_validator.HMAC_SHA1, request_validator.HMAC_SHA256):
        return SignatureCheck(
            False,
            f"{SIGNATURE_SETTINGS} names algorithm {algorithm[:40]!r}, which the installed "
            "twilio-python does not support",
            "switch the account's webhook signing to HMAC_SHA256 or HMAC_SHA1, or upgrade "
            "twilio-python",
        )
    validator = RequestValidator(shared_key or auth_token)
    if validator.validate(url, dict(params), signature, algorithm=algorithm):
        return SignatureCheck(True)
    secret = "TWILIO_WEBHOOK_SHARED_KEY" if shared_key else "the auth token"
    fix = (
        "check that TWILIO_WEBHOOK_SHARED_KEY is the secret of that key"
        if shared_key
        else "set TWILIO_WEBHOOK_SHARED_KEY to the secret of that SharedKey"
    )
    return SignatureCheck(
        False,
        f"bad X-Twilio-Signature ({algorithm} with {secret}; {SIGNATURE_SETTINGS} names key "
        f"{key_id[:80] or '(none)'})",
        f"{fix}, or switch the account's webhook signing back to HMAC-SHA1 with the auth token",
    )


def signature_ok(auth_token: str, url: str, params: Mapping[str, str], signature: str) -> bool:
    """True when X-Twilio-Signature (HMAC-SHA1, auth token) matches the URL and parameters."""
    return check_signature(auth_token, url, params, signature).ok


_TOKEN = re.compile(r"[0-9]{1,12}\.[0-9a-f]{16}\.[0-9a-f]{32}")


class TokenError(ValueError):
    """A stream token was refused; the message says why (never the token itself)."""


# Records a token's single use for every replica: (call_sid, nonce, expires_at) -> False if used.
Ledger = Callable[[str, str, datetime], Awaitable[bool]]
LEDGER_TIMEOUT_S = 3.0


class StreamTokens:
    """Short-lived, single-use tokens bound to a CallSid.

    Tokens are HMAC-signed, so any replica can check one minted by another. Single use holds
    across replicas through the `ledger` (the database: a unique row per token); each replica
    also remembers the nonces it accepted until they expire, which is all there is when the
    ledger is unset or unreachable.
    """

    def __init__(
        self,
        secret: str,
        ttl_s: float = 60.0,
        clock: Callable[[], float] = time.time,
        ledger: Ledger | None = None,
    ) -> None:
        self._key = hmac.new(secret.encode(), b"stream-token-v1", hashlib.sha256).digest()
        self.ttl_s = ttl_s
        self._clock = clock
        self._used: dict[str, float] = {}
        self.ledger = ledger

    def _mac(self, call_sid: str, expires: int, nonce: str) -> str:
        msg = f"{call_sid}|{expires}|{nonce}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()[:32]

    def mint(self, call_sid: str) -> str:
        """A fresh token for this call."""
        expires = int(self._clock() + self.ttl_s)
        nonce = secrets.token_hex(8)
        return f"{expires}.{nonce}.{self._mac(call_sid, expires, nonce)}"

    def check(self, token: str, call_sid: str) -> tuple[str, int]:
        """The token's (nonce, expiry) if it is well-formed, ours, for this call and not expired;
        else TokenError. Says nothing about earlier use."""
        if not token or not _TOKEN.fullmatch(token):
            raise TokenError("stream token missing or malformed")
        parts = token.split(".")
        expires, nonce, mac = int(parts[0]), parts[1], parts[2]
        if not hmac.compare_digest(mac, self._mac(call_sid, expires, nonce)):
            raise TokenError("stream token does not match this CallSid")
        if expires < self._clock():
            raise TokenError("stream token expired")
        return nonce, expires

    async def redeem(self, token: str, call_sid: str) -> None:
        """Accept the token once for this call (on any replica), or raise TokenError."""
        now = self._clock()
        self._used = {n: exp for n, exp in self._used.items() if exp >= now}
        nonce, expires = self.check(token, call_sid)
        if nonce in self._used:
            raise TokenError("stream token already used")
        # Taken here before the ledger is asked: a second stream with the same token arriving
        # meanwhile on this replica is refused, even if the ledger cannot answer.
        self._used[nonce] = expires
        if self.ledger is not None and not await self._first_use(call_sid, nonce, expires):
            raise TokenError("stream token already used (on another replica)")

    async def _first_use(self, call_sid: str, nonce: str, expires: int) -> bool:
        """The ledger's verdict; True (this replica's memory decides) when it cannot answer."""
        assert self.ledger is not None
        at = datetime.fromtimestamp(expires, UTC)
        try:
            return await within(self.ledger(call_sid, nonce, at), LEDGER_TIMEOUT_S)
        except Exception as exc:  # the database is down: HMAC, expiry and local memory still hold
            log.warning(
                "stream_token.ledger_unavailable",
                call_sid=call_sid,
                error=f"{type(exc).__name__}: {exc}",
                fallback="single use checked on this replica only",
            )
            return True
