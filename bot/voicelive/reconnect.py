"""When the keeper opens a new session: backoff between attempts, a margin before expiry."""

from __future__ import annotations

import random

BACKOFF_S = (0.25, 0.5, 1.0, 2.0, 4.0)  # after the first attempt, which is immediate
EXPIRY_MARGIN_S = 300.0  # recycle at least this long before expires_at (a fifth of short TTLs)


def retry_delay(attempt: int, left_s: float) -> float | None:
    """The wait after failed attempt number `attempt` (jittered by ±20 %, kept inside the
    `left_s` of budget left); None when the budget has no room for another attempt."""
    delay = BACKOFF_S[min(attempt - 1, len(BACKOFF_S) - 1)] * random.uniform(0.8, 1.2)
    delay = min(delay, left_s - 0.1)  # a last attempt just before the budget runs out
    return None if delay < 0.05 else delay


def recycle_in(lifetime_s: float) -> float:
    """How soon to recycle a session that expires in `lifetime_s`: EXPIRY_MARGIN_S before its
    end, or a fifth of its lifetime before it when that is short."""
    margin = min(EXPIRY_MARGIN_S, max(lifetime_s, 0.0) / 5)
    return max(lifetime_s - margin, 0.0)
