"""Retention: personal data older than RETENTION_DAYS erased in small batches, counts kept.

Each pass takes ended calls started before the cut-off and finished interviews last changed
before it, at most `batch` at a time, each batch in its own short transaction (no long locks),
and applies the personal-data registry to them (bot/store/redact.py): transcripts, assessments
and reports go, numbers and names are masked; durations, tokens and costs stay. Recordings are
deleted first (a failure leaves the batch for the next pass), journal files older than the
cut-off go too, and code-gate failures older than their hour.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.code_failures import WINDOW, code_failures
from bot.store.interview_tables import interviews
from bot.store.personal import Subject
from bot.store.redact import Scrubber, mark_redacted, redact
from bot.store.tables import calls

log = structlog.get_logger(__name__)

FINISHED = ("completed", "failed", "cancelled")  # interviews nobody will call again by themselves
BATCH = 100  # rows per transaction
MAX_BATCHES = 20  # per pass: a backlog is worked off over several passes
EVERY_S = 600.0  # how often the sweeper runs a pass


class RecordingDeleter(Protocol):
    """Deletes a call's recording wherever it is stored; True if there was one."""

    def __call__(self, call_sid: str) -> Awaitable[bool]: ...


async def no_recordings(_call_sid: str) -> bool:
    """The deleter when no recordings are stored."""
    return False


def _utcnow() -> datetime:
    return datetime.now(UTC)


def journal_files(directory: Path | None, call_sid: str | None = None) -> list[Path]:
    """The journal's files (pending, set aside .bad, temporary), or those of one call."""
    if directory is None or not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        stem = path.name.lstrip(".").split(".", 1)[0]
        if path.is_file() and (call_sid is None or stem == _safe(call_sid)):
            found.append(path)
    return found


def _safe(call_sid: str) -> str:  # as bot/store/journal.py names a call's file
    return "".join(c for c in call_sid if c.isalnum() or c in "-_")[:64] or "call"


class Retention:
    """Erases personal data older than `days` (0: keep everything, the pass does nothing)."""

    def __init__(
        self,
        engine: AsyncEngine,
        days: int,
        *,
        recordings: RecordingDeleter = no_recordings,
        journal_dir: Path | None = None,
        now: Callable[[], datetime] = _utcnow,
        every_s: float = EVERY_S,
        batch: int = BATCH,
        max_batches: int = MAX_BATCHES,
    ) -> None:
        self.engine = engine
        self.days = days
        self.recordings = recordings
        self.journal_dir = journal_dir
        self.now = now
        self.every = timedelta(seconds=every_s)
        self.batch = batch
        self.max_batches = max_batches
        self._last: datetime | None = None
        if days <= 0:
            log.warning("retention.off", reason="RETENTION_DAYS=0: personal data is kept")

    async def maybe_run(self) -> dict[str, int] | None:
        """A pass if none ran in the last `every_s` (the sweeper calls this each time)."""
        now = self.now()
        if self._last is not None and now - self._last < self.every:
            return None
        self._last = now
        return await self.run()

    async def run(self) -> dict[str, int]:
        """One pass; how many of each were erased."""
        counts: dict[str, int] = {"calls": 0, "interviews": 0, "recordings": 0}
        now = self.now()
        async with self.engine.begin() as conn:
            expired = code_failures.c.at < now - WINDOW
            counts["code_failures"] = (
                await conn.execute(sa.delete(code_failures).where(expired))
            ).rowcount
        if self.days <= 0:
            return counts
        cutoff = now - timedelta(days=self.days)
        old_calls = (
            sa.select(calls.c.call_sid)
            .where(calls.c.redacted_at.is_(None), calls.c.started_at < cutoff)
            .where(calls.c.status != "in_progress")
        )
        old_interviews = sa.select(interviews.c.id).where(
            interviews.c.redacted_at.is_(None),
            interviews.c.updated_at < cutoff,
            interviews.c.status.in_(FINISHED),
        )
        for subject, query in ((Subject.CALL, old_calls), (Subject.INTERVIEW, old_interviews)):
            for _ in range(self.max_batches):
                done = await self._batch(subject, query, now, counts)
                if done < self.batch:
                    break
        counts["journal_files"] = self._expire_journal(cutoff)
        if any(counts.values()):
            log.info("retention.erased", days=self.days, **counts)
        return counts

    async def _batch(
        self,
        subject: Subject,
        query: sa.Select[tuple[str]],
        now: datetime,
        counts: dict[str, int],
    ) -> int:
        async with self.engine.connect() as conn:
            keys = list((await conn.scalars(query.limit(self.batch))).all())
        if not keys:
            return 0
        if subject is Subject.CALL:  # first: a failure here leaves the batch for next time
            for sid in keys:
                counts["recordings"] += bool(await self.recordings(sid))
        async with self.engine.begin() as conn:
            await redact(conn, subject, keys, Scrubber())
            await mark_redacted(conn, subject, keys, now)
        counts["calls" if subject is Subject.CALL else "interviews"] += len(keys)
        return len(keys)

    def _expire_journal(self, cutoff: datetime) -> int:
        """Journal files (pending or set aside) last written before the cut-off."""
        removed = 0
        limit = cutoff.timestamp()
        for path in journal_files(self.journal_dir):
            try:
                if path.stat().st_mtime < limit:
                    path.unlink()
                    removed += 1
            except OSError as exc:
                log.warning("retention.journal_unremovable", path=str(path), error=str(exc))
        return removed
