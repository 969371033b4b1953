"""X-Interview-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>"> (sign and verify)."""

from __future__ import annotations

import hashlib
import hmac
import time

TOLERANCE_S = 300  # a receiver refuses signatures older (or newer) than this


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The header's value for this body, signed at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str, header: str, body: bytes, *, tolerance_s: float = TOLERANCE_S,
    now: float | None = None,
) -> bool:  # fmt: skip
    """True if `header` signs `body` with `secret` within tolerance_s of now."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = signature(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))
