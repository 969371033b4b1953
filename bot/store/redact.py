"""Redaction: the personal-data registry (bot/store/personal.py) applied to some calls or
interviews, in the caller's transaction.

Besides bot/store/store.py this is the one writer of the call-log tables, and it writes only
the columns the registry names (deleting transcript and assessment rows, masking the rest).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.observability.logs import mask_phone, mask_phones
from bot.store.personal import ERASED_NAME, How, Subject, personal_of
from bot.store.tables import metadata


def masked_number(value: str | None) -> str | None:
    """A stored number masked (country code and last four digits); one masked already (fewer
    than eight digits left) is kept as it is, so masking twice changes nothing."""
    if value is None or len(re.sub(r"\D", "", value)) < 8:
        return value
    return mask_phone(value)


class Scrubber:
    """Free text and JSON with phone numbers masked and the given names replaced."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        words = {w for name in names if name for w in [name, *name.split()] if len(w) >= 3}
        alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
        self.names = re.compile(rf"\b(?:{alternatives})\b", re.I) if alternatives else None

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            value = mask_phones(value)
            return self.names.sub(ERASED_NAME, value) if self.names else value
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        return value


def erased(how: How, value: Any, scrub: Scrubber) -> Any:
    """A personal column's value once erased (DELETE_ROW is handled by deleting the row)."""
    if value is None:
        return None
    if how is How.MASK_PHONE:
        return masked_number(value)
    if how is How.NAME:
        return ERASED_NAME
    if how is How.SCRUB:
        return scrub(value)
    return None  # How.NULL


async def redact(
    conn: AsyncConnection, subject: Subject, keys: Sequence[str], scrub: Scrubber
) -> dict[str, int]:
    """Erase every registered personal column of these calls' or interviews' rows: rows with
    a DELETE_ROW column are deleted, the others updated. Returns rows changed per table."""
    counts: dict[str, int] = {}
    if not keys:
        return counts
    for entry in personal_of(subject):
        table = metadata.tables[entry.table]
        mine = table.c[entry.key].in_(list(keys))
        if How.DELETE_ROW in entry.columns.values():
            counts[entry.table] = (await conn.execute(sa.delete(table).where(mine))).rowcount
            continue
        primary = list(table.primary_key.columns)
        columns = [table.c[name] for name in entry.columns]
        rows = (await conn.execute(sa.select(*primary, *columns).where(mine))).mappings().all()
        changed = 0
        for row in rows:
            values: dict[str, Any] = {}
            for name, how in entry.columns.items():
                new = erased(how, row[name], scrub)
                if new != row[name]:
                    values[name] = sa.null() if new is None else new
            if values:
                where = [column == row[column.name] for column in primary]
                await conn.execute(sa.update(table).where(*where).values(**values))
                changed += 1
        counts[entry.table] = changed
    return counts


SUBJECT_TABLES = {Subject.CALL: ("calls", "call_sid"), Subject.INTERVIEW: ("interviews", "id")}


async def mark_redacted(
    conn: AsyncConnection, subject: Subject, keys: Sequence[str], at: datetime
) -> None:
    """Stamp redacted_at on these calls or interviews (those not stamped before)."""
    name, key = SUBJECT_TABLES[subject]
    table = metadata.tables[name]
    await conn.execute(
        sa.update(table)
        .where(table.c[key].in_(list(keys)), table.c.redacted_at.is_(None))
        .values(redacted_at=at)
    )
