"""Erasure: everything personal about one candidate, across all the calls of their interview.

The calls are those linked to the interview (calls.interview_id, and the CallSids of its
attempts). Inbound calls are not matched by number: the call log holds masked numbers only,
and the last four digits would match strangers; a caller who never keyed in the code is
covered by retention. An open interview is cancelled (its number is gone); one being called
now is refused (Conflict), since the call is still writing. Each erasure leaves one audit row
(erasures: id, interview id, when, by whom, counts), nothing personal in it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.interview.lifecycle import CANCELLABLE, LIVE, Conflict
from bot.store.interview_db import lock, read
from bot.store.interview_tables import interview_attempts, interviews
from bot.store.personal import Subject, erasures
from bot.store.redact import Scrubber, mark_redacted, redact
from bot.store.retention import RecordingDeleter, journal_files, no_recordings
from bot.store.rows import iso
from bot.store.tables import calls

log = structlog.get_logger(__name__)

BY = ("api", "cli")


class UnknownInterview(LookupError):
    """No interview with this id."""


@dataclass(frozen=True)
class Erased:
    """What an erasure did: its audit row, and whether the interview had been erased before."""

    erasure: dict[str, Any]
    already_erased: bool


def _audit_json(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "interview_id": row["interview_id"],
        "at": iso(row["at"]),
        "by": row["by"],
        "counts": dict(row["counts"]),
    }


async def _call_sids(engine: AsyncEngine, interview_id: str) -> list[str]:
    linked = sa.select(calls.c.call_sid).where(calls.c.interview_id == interview_id)
    dialed = sa.select(interview_attempts.c.call_sid).where(
        interview_attempts.c.interview_id == interview_id,
        interview_attempts.c.call_sid.is_not(None),
    )
    async with engine.connect() as conn:
        found = set((await conn.scalars(linked)).all()) | set((await conn.scalars(dialed)).all())
    return sorted(found)


async def erase_interview(
    engine: AsyncEngine,
    interview_id: str,
    *,
    by: str,
    recordings: RecordingDeleter = no_recordings,
    journal_dir: Path | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Erased:
    """Erase the candidate of this interview; UnknownInterview if there is none, Conflict while
    it is being called. Erasing again redoes the (idempotent) work and returns the first
    erasure's audit row with already_erased=True."""
    if by not in BY:
        raise ValueError(f"by must be one of {', '.join(BY)}")
    pg = engine.dialect.name == "postgresql"
    async with engine.connect() as conn:
        row = await read(conn, interview_id)
    if row is None:
        raise UnknownInterview(interview_id)
    if row["status"] in LIVE:
        raise Conflict(f"status: a {row['status']} interview cannot be erased until its call ends")
    sids = await _call_sids(engine, interview_id)
    # Recordings and journal files first: if the recordings store fails, nothing is marked
    # erased and the whole erasure can simply be run again.
    deleted = sum([bool(await recordings(sid)) for sid in sids])
    files = [path for sid in sids for path in journal_files(journal_dir, sid)]
    for path in files:
        path.unlink(missing_ok=True)
    at = now()
    async with engine.begin() as conn:
        row = await lock(conn, pg, interview_id)
        if row is None:
            raise UnknownInterview(interview_id)
        if row["status"] in LIVE:  # dialed meanwhile
            raise Conflict(f"status: a {row['status']} interview cannot be erased now")
        scrub = Scrubber([row["candidate_name"]])
        changed = await redact(conn, Subject.CALL, sids, scrub)
        changed |= await redact(conn, Subject.INTERVIEW, [interview_id], scrub)
        values: dict[str, Any] = {"redacted_at": row["redacted_at"] or at, "updated_at": at}
        if row["status"] in CANCELLABLE:
            values.update(status="cancelled", next_attempt_at=None)
        await conn.execute(
            sa.update(interviews).where(interviews.c.id == interview_id).values(**values)
        )
        await mark_redacted(conn, Subject.CALL, sids, at)
        first = (
            (
                await conn.execute(
                    sa.select(erasures)
                    .where(erasures.c.interview_id == interview_id)
                    .order_by(erasures.c.at)
                    .limit(1)
                )
            )
            .mappings()
            .first()
        )
        if first is not None:
            return Erased(_audit_json(first), already_erased=True)
        audit = {
            "id": "er_" + secrets.token_hex(8),
            "interview_id": interview_id,
            "at": at,
            "by": by,
            "counts": {
                "calls": len(sids),
                "transcript_turns": changed.get("call_turns", 0),
                "assessments": changed.get("call_assessments", 0),
                "recordings": deleted,
                "journal_files": len(files),
            },
        }
        await conn.execute(sa.insert(erasures).values(**audit))
    log.info("interview.erased", interview_id=interview_id, erasure_id=audit["id"], by=by,
             **audit["counts"])  # fmt: skip
    return Erased(_audit_json(audit), already_erased=False)


async def erasure_of(engine: AsyncEngine, interview_id: str) -> dict[str, Any] | None:
    """The first erasure of this interview (its audit row), or None."""
    query = sa.select(erasures).where(erasures.c.interview_id == interview_id)
    async with engine.connect() as conn:
        row = (await conn.execute(query.order_by(erasures.c.at).limit(1))).mappings().first()
    return None if row is None else _audit_json(row)
