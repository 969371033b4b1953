"""Results webhook events, written to the outbox inside the transaction of the state change.

An engine carries the outbox switch as an execution option (`enable`); without it (no
RESULTS_WEBHOOK_URL) nothing is written. Each event has a dedupe key: the same fact written
twice (a journal replayed, a callback repeated, two replicas racing) is one event.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.observability.logs import mask_phone
from bot.store.interview_rows import attempt_json
from bot.store.interview_tables import interview_attempts as attempts
from bot.store.interview_tables import interviews
from bot.store.outbox_tables import webhook_outbox
from bot.store.rows import assessment_json, call_json, iso
from bot.store.tables import call_assessments, calls

OPTION = "results_outbox"  # the engine's execution option: {"public_url": …}; absent = off
EVENT_TYPES = ("interview.completed", "interview.failed", "call.ended")


def enable(engine: AsyncEngine, public_url: str) -> None:
    """Write events on this engine from now on (recording links under public_url)."""
    engine.update_execution_options(**{OPTION: {"public_url": public_url.rstrip("/")}})


def _options(conn: AsyncConnection) -> Mapping[str, Any] | None:
    sync = conn.sync_connection
    return None if sync is None else sync.get_execution_options().get(OPTION)


def recording_url(conn: AsyncConnection, call_sid: str) -> str:
    """The link to a call's recording (GET /api/calls/{sid}/recording, bearer-authenticated)."""
    options = _options(conn) or {}
    return f"{options.get('public_url', '')}/api/calls/{call_sid}/recording"


async def emit(
    conn: AsyncConnection, kind: str, key: str, subject: str, data: dict[str, Any], now: datetime
) -> bool:
    """Add one event (unless its key is already there); True if added."""
    event_id = "evt_" + secrets.token_hex(16)
    payload = {"id": event_id, "type": kind, "created_at": iso(now), "data": data}
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(webhook_outbox).values(
        id=event_id, type=kind, dedupe_key=key[:200], subject=subject, payload=payload,
        created_at=now, status="pending", next_attempt_at=now, attempts=0, history=[],
    )  # fmt: skip
    result = await conn.execute(stmt.on_conflict_do_nothing(index_elements=["dedupe_key"]))
    return result.rowcount == 1


def call_summary(conn: AsyncConnection, row: Mapping[str, Any]) -> dict[str, Any]:
    """A call record's summary (numbers masked as stored; errors left out) and its recording."""
    out = call_json(row)
    out.pop("errors", None)
    out["recording_url"] = recording_url(conn, row["call_sid"])
    return out


def _candidate(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": row["candidate_name"], "phone": mask_phone(row["phone"])}


async def lock_interview_of_call(conn: AsyncConnection, call_sid: str) -> None:
    """PostgreSQL: lock the call's interview row before the call's row, the order every
    interview change takes, so a call ending and its interview completing see each other."""
    if _options(conn) is None or conn.dialect.name != "postgresql":
        return
    interview_id = await conn.scalar(
        sa.select(calls.c.interview_id).where(calls.c.call_sid == call_sid)
    )
    if interview_id is not None:
        await conn.execute(
            sa.select(interviews.c.id).where(interviews.c.id == interview_id).with_for_update()
        )


async def call_finished(conn: AsyncConnection, call_sid: str, now: datetime) -> None:
    """A call record ended (or was marked interrupted): call.ended, and interview.completed
    if its interview completed first and waited for this call's record."""
    if _options(conn) is None:
        return
    row = (await conn.execute(sa.select(calls).where(calls.c.call_sid == call_sid))).mappings()
    call = row.first()
    if call is None or call["ended_at"] is None:
        return
    key = f"call.ended:{call_sid}:{call['status']}"
    await emit(conn, "call.ended", key, call_sid, call_summary(conn, call), now)
    if call["interview_id"]:
        await interview_finished(conn, call["interview_id"], "completed", now)


async def interview_finished(
    conn: AsyncConnection, interview_id: str, status: str, now: datetime
) -> None:
    """The interview moved to `status`: interview.failed now; interview.completed once the
    record of its last call has ended too (its report is written then), else when it ends."""
    if _options(conn) is None or status not in ("completed", "failed"):
        return
    row = (
        (await conn.execute(sa.select(interviews).where(interviews.c.id == interview_id)))
        .mappings()
        .first()
    )
    if row is None or row["status"] != status:
        return
    query = sa.select(attempts).where(attempts.c.interview_id == interview_id)
    tries = (await conn.execute(query.order_by(attempts.c.seq))).mappings().all()
    seq = row["attempts_total"]
    base = {
        "interview_id": interview_id,
        "candidate": _candidate(row),
        "profile": row["profile"],
        "role": row["role"],
        "scheduled_at": iso(row["scheduled_at"]),
    }
    if status == "failed":
        last = tries[-1] if tries else None
        why = "no attempt was made" if last is None else last["outcome"]
        if last is not None and last["error_message"]:
            why = f"{why}: {last['error_message']}"
        data = {**base, "why": why, "attempts_used": row["tries"],
                "attempts": [attempt_json(a) for a in tries]}  # fmt: skip
        await emit(conn, "interview.failed", f"interview.failed:{interview_id}:{seq}",
                   interview_id, data, now)  # fmt: skip
        return
    await _completed(conn, interview_id, seq, base, tries, now)


async def _completed(
    conn: AsyncConnection,
    interview_id: str,
    seq: int,
    base: dict[str, Any],
    tries: list[Any],
    now: datetime,
) -> None:
    sids = [a["call_sid"] for a in tries if a["call_sid"]]
    last_sid = next((a["call_sid"] for a in tries if a["seq"] == seq), None)
    records = {}
    if sids:
        query = sa.select(calls).where(calls.c.call_sid.in_(sids))
        records = {r["call_sid"]: r for r in (await conn.execute(query)).mappings().all()}
    last = records.get(last_sid) if last_sid else None
    if last is None or last["status"] == "in_progress":
        return  # the call's record is still being written: its end emits the event
    query = (
        sa.select(call_assessments)
        .where(call_assessments.c.call_sid == last_sid)
        .order_by(call_assessments.c.seq)
    )
    marks = (await conn.execute(query)).mappings().all()
    data = {
        **base,
        "call_sid": last_sid,
        "report": last["report"],
        "assessments": [assessment_json(m) for m in marks],
        "recording_url": recording_url(conn, last_sid),
        "calls": [call_summary(conn, records[s]) for s in sids if s in records],
        "attempts": [attempt_json(a) for a in tries],
    }
    await emit(conn, "interview.completed", f"interview.completed:{interview_id}:{seq}",
               interview_id, data, now)  # fmt: skip
