"""Wrong interview codes limited per caller number and across all callers, per hour.

Callers are known by an HMAC of their number under a key derived from the Twilio auth token,
so the database never holds a number. Callers who withhold their number share one bucket.
"""

from __future__ import annotations

import hashlib
import hmac

import structlog
from prometheus_client import Counter

from bot.observability.logs import mask_phone
from bot.store.code_failures import CodeFailures

log = structlog.get_logger(__name__)

KEY_LABEL = b"bot/code-gate/caller-hash/v1"
SCOPES = ("caller", "global")


def derive_key(auth_token: str) -> bytes:
    """The HMAC key for caller hashes, derived from (never equal to) the auth token."""
    return hmac.new(auth_token.encode(), KEY_LABEL, hashlib.sha256).digest()


class CodeLimits:
    """At most `per_caller` wrong codes per number and `overall` from everyone, per hour."""

    def __init__(
        self,
        failures: CodeFailures,
        key: bytes,
        per_caller: int,
        overall: int,
        limited: Counter | None = None,
    ) -> None:
        self.failures = failures
        self._key = key
        self.per_caller = per_caller
        self.overall = overall
        self._limited = limited

    def caller_hash(self, number: str) -> str:
        """The keyed hash a caller's failures are stored under (hex SHA-256)."""
        return hmac.new(self._key, number.strip().encode(), hashlib.sha256).hexdigest()

    async def check(self, number: str) -> str | None:
        """The scope ("caller" or "global") that stops this caller trying a code now, or None."""
        mine, everyone = await self.failures.counts(self.caller_hash(number))
        if mine >= self.per_caller:
            scope, failures, limit = "caller", mine, self.per_caller
        elif everyone >= self.overall:
            scope, failures, limit = "global", everyone, self.overall
        else:
            return None
        log.warning("gate.code_attempts_limited", scope=scope, caller=mask_phone(number),
                    failures=failures, limit=limit)  # fmt: skip
        if self._limited is not None:
            self._limited.labels(scope).inc()
        return scope

    async def failed(self, number: str) -> None:
        """Count one wrong code from this caller."""
        await self.failures.add(self.caller_hash(number))
