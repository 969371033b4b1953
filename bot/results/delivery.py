"""The delivery worker: claims due outbox events, POSTs them signed, retries for 24 h.

httpx is imported when the worker first runs (only with RESULTS_WEBHOOK_URL set), not when
`bot serve` imports this module at start.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from bot.observability.metrics import Metrics
from bot.results.signing import signature
from bot.store.outbox import Claimed, Outbox
from bot.store.record_writes import Backoff

if TYPE_CHECKING:
    import httpx

log = structlog.get_logger(__name__)

# Delays between attempts (jittered ±20 %), the last repeated, until GIVE_UP_S after the event.
SCHEDULE_S = (30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
GIVE_UP_S = 24 * 3600.0
ATTEMPT_TIMEOUT_S = 10.0  # one POST, connect to last byte
LEASE_S = 60.0  # a claim's lease: well above one attempt, so two replicas never overlap
RETRY_AFTER_MAX_S = 3600.0  # a 408/429's Retry-After is honoured up to an hour
POLL_S = 1.0  # how often an idle worker looks for due events
BATCH = 10  # events claimed at once (delivered one after another)
USER_AGENT = "interview-bot-webhooks/1"


@dataclass(frozen=True)
class Result:
    """One attempt's outcome: delivered, retry or failed, with the status or error."""

    outcome: str
    http_status: int | None = None
    error: str | None = None
    retry_after_s: float | None = None


def classify(status: int, retry_after: str | None) -> Result:
    """2xx delivered; 408, 429 and 5xx retried; anything else (4xx, 3xx) failed at once."""
    if 200 <= status < 300:
        return Result("delivered", status)
    if status in (408, 429) or status >= 500:
        return Result("retry", status, f"HTTP {status}", _retry_after(retry_after))
    return Result("failed", status, f"HTTP {status}")


def _retry_after(raw: str | None) -> float | None:
    if not raw:
        return None
    raw = raw.strip()
    if raw.isdigit():
        return min(float(raw), RETRY_AFTER_MAX_S)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, min(when.timestamp() - time.time(), RETRY_AFTER_MAX_S))


class DeliveryWorker:
    """Delivers the outbox to RESULTS_WEBHOOK_URL; every replica runs one, claims keep each
    event on one replica at a time. At least once: the receiver deduplicates on the event id."""

    def __init__(
        self,
        outbox: Outbox,
        url: str,
        secret: str,
        *,
        instance: str,
        metrics: Metrics | None = None,
        timeout_s: float = ATTEMPT_TIMEOUT_S,
        lease_s: float = LEASE_S,
        poll_s: float = POLL_S,
        give_up_s: float = GIVE_UP_S,
        schedule_s: Sequence[float] = SCHEDULE_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.outbox = outbox
        self.url = url
        self.secret = secret
        self.instance = instance
        self.metrics = metrics or Metrics()
        self.timeout_s = timeout_s
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.give_up_s = give_up_s
        self.schedule_s = tuple(schedule_s)
        self.transport = transport

    def client(self) -> httpx.AsyncClient:
        """The worker's HTTP client: no redirects, one timeout per attempt."""
        import httpx

        return httpx.AsyncClient(
            timeout=self.timeout_s, follow_redirects=False, transport=self.transport,
            headers={"User-Agent": USER_AGENT},
        )  # fmt: skip

    async def run(self) -> None:
        """Claim and deliver until cancelled; back off while the database is down."""
        backoff = Backoff(1.0, 30.0)
        async with self.client() as client:
            while True:
                try:
                    done = await self.run_once(client)
                    backoff.reset()
                except Exception as exc:  # the database is down (or a bug): never die
                    if backoff.failures == 0:
                        log.warning("webhook.worker_error", error=f"{type(exc).__name__}: {exc}")
                    await asyncio.sleep(backoff.next())
                    continue
                if not done:
                    await asyncio.sleep(self.poll_s)

    async def run_once(self, client: httpx.AsyncClient) -> int:
        """Claim a batch and deliver each; how many were attempted."""
        self.metrics.webhook_backlog.set(await self.outbox.backlog())
        claimed = await self.outbox.claim(self.instance, BATCH, self.lease_s)
        for item in claimed:
            await self.deliver(client, item)
        return len(claimed)

    async def attempt(self, client: httpx.AsyncClient, item: Claimed) -> Result:
        """POST the event once (the body never logged, the response body never read)."""
        import httpx  # imported already by client(): a dictionary look-up

        body = json.dumps(item.payload, separators=(",", ":"), sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Interview-Event-Id": item.id,
            "X-Interview-Event-Type": item.type,
            "X-Interview-Signature": signature(self.secret, body, int(time.time())),
        }
        try:
            response = await client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException:
            return Result("retry", None, f"timeout after {self.timeout_s:g} s")
        except httpx.TransportError as exc:  # refused, reset, DNS: the message names no data
            return Result("retry", None, f"{type(exc).__name__}: {exc}"[:200])
        return classify(response.status_code, response.headers.get("retry-after"))

    async def deliver(self, client: httpx.AsyncClient, item: Claimed) -> str:
        """One attempt at one claimed event, its result stored; the outcome."""
        result = await self.attempt(client, item)
        outcome, error, retry_at = result.outcome, result.error, None
        if outcome == "retry":
            retry_at = self._next_at(item, result.retry_after_s)
            if retry_at is None:
                outcome, error = "failed", f"gave up after {self.give_up_s:g} s: {error}"
        settled = await self.outbox.settle(
            item, outcome=outcome, http_status=result.http_status, error=error, retry_at=retry_at
        )
        self.metrics.webhook_deliveries.labels(outcome).inc()
        level = log.warning if outcome != "delivered" else log.info
        level("webhook." + outcome, event_id=item.id, type=item.type, attempt=item.attempts + 1,
              http_status=result.http_status, error=error, settled=settled)  # fmt: skip
        return outcome

    def _next_at(self, item: Claimed, retry_after_s: float | None) -> datetime | None:
        """When to try again, or None past the give-up time."""
        step = self.schedule_s[min(item.attempts, len(self.schedule_s) - 1)]
        delay = step * random.uniform(0.8, 1.2)
        if retry_after_s is not None:
            delay = max(delay, retry_after_s)
        now = self.outbox.now()
        at = now + timedelta(seconds=delay)
        if at > item.created_at + timedelta(seconds=self.give_up_s):
            return None
        return at
