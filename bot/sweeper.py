"""The sweeper every replica runs: what a dead replica or a lost callback left behind.

Each step is a conditional update, so replicas sweeping together act once per row.
"""

from __future__ import annotations

import asyncio

import structlog

from bot.call.record import report_interrupted
from bot.config import Settings
from bot.interview.profiles import Profile
from bot.store import Store
from bot.store.interviews import InterviewStore
from bot.store.record_writes import unavailable
from bot.store.retention import Retention
from bot.store.shared import SharedState

log = structlog.get_logger(__name__)


async def sweep_once(
    store: Store,
    settings: Settings,
    profiles: dict[str, Profile],
    *,
    interviews: InterviewStore | None = None,
    shared: SharedState | None = None,
    instance: str = "",
    retention: Retention | None = None,
) -> None:
    """One pass: calls whose replica stopped writing become interrupted (and get a report);
    interviews stuck in dialing/in_progress whose call is gone move on; expired outcomes and
    stream tokens are forgotten; personal data past RETENTION_DAYS is erased (every 10 min)."""
    count = await store.mark_interrupted(stale_after_s=3 * settings.call_heartbeat_s)
    if count:
        log.warning("calls.marked_interrupted", count=count)
    await report_interrupted(store, profiles, settings.default_profile)
    if interviews is not None:
        moved = await interviews.resolve_stuck(settings.dialer.recovery_s, instance)
        if moved:
            log.warning("interviews.stuck_resolved", count=moved)
    if shared is not None:
        await shared.sweep()
    if retention is not None:
        await retention.maybe_run()


async def run_sweeper(
    store: Store,
    settings: Settings,
    profiles: dict[str, Profile],
    *,
    interviews: InterviewStore | None = None,
    shared: SharedState | None = None,
    instance: str = "",
    retention: Retention | None = None,
) -> None:
    """sweep_once every 3 heartbeats (at least a second), forever."""
    every = max(3 * settings.call_heartbeat_s, 1.0)
    down = False
    while True:
        try:
            await sweep_once(
                store, settings, profiles, interviews=interviews, shared=shared, instance=instance,
                retention=retention,
            )  # fmt: skip
            down = False
        except Exception as exc:  # the database may be briefly unreachable; try again later
            error = f"{type(exc).__name__}: {exc}"
            if not unavailable(exc):
                log.error("calls.sweep_failed", error=error)
            elif not down:  # once per outage (the record writers and the dialer say it too)
                log.warning("calls.sweep_failed", error=error, reason="database unavailable")
            down = unavailable(exc)
        await asyncio.sleep(every)
