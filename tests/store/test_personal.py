"""The personal-data registry classifies every text and JSON column of every table the
migrations create: a new table or column holding text fails here until it is listed."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from bot.store import Store, database_url
from bot.store.personal import NOT_PERSONAL, PERSONAL, How
from bot.store.redact import Scrubber, masked_number

TEXT = (sa.String, sa.Text, sa.JSON, sa.LargeBinary, sa.Enum)


def _text_columns(conn: sa.Connection) -> dict[str, set[str]]:
    inspector = sa.inspect(conn)
    found: dict[str, set[str]] = {}
    for table in inspector.get_table_names():
        found[table] = {
            c["name"]
            for c in inspector.get_columns(table)
            if isinstance(c["type"], TEXT) or "CHAR" in str(c["type"]).upper()
            or "TEXT" in str(c["type"]).upper() or "JSON" in str(c["type"]).upper()
        }  # fmt: skip
    return found


async def test_every_text_column_of_every_table_is_classified(tmp_path: Path) -> None:
    store = await Store.open(database_url(None, tmp_path))
    try:
        async with store.engine.connect() as conn:
            found = await conn.run_sync(_text_columns)
    finally:
        await store.close()
    personal = {p.table: set(p.columns) for p in PERSONAL}
    unclassified = {
        f"{table}.{column}"
        for table, columns in found.items()
        for column in columns
        if column not in personal.get(table, set()) | NOT_PERSONAL.get(table, set())
    }
    assert not unclassified, (
        f"list these in bot/store/personal.py (PERSONAL or NOT_PERSONAL): {sorted(unclassified)}"
    )
    for entry in PERSONAL:  # the registry names real columns, and the key links its rows
        assert set(entry.columns) | {entry.key} <= found[entry.table] | {"id"}, entry.table
        assert not set(entry.columns) & NOT_PERSONAL.get(entry.table, set()), entry.table


def test_the_issue_s_personal_data_is_in_the_registry() -> None:
    hows = {(p.table, column): how for p in PERSONAL for column, how in p.columns.items()}
    assert hows[("call_turns", "text")] is How.DELETE_ROW  # transcripts
    assert hows[("call_assessments", "evidence")] is How.DELETE_ROW  # assessments
    assert hows[("calls", "report")] is How.NULL  # reports
    assert hows[("interviews", "phone")] is How.MASK_PHONE
    assert hows[("interviews", "candidate_name")] is How.NAME


def test_masking_keeps_the_last_four_digits_and_is_idempotent() -> None:
    assert masked_number("+14155550142") == "+1******0142"
    assert masked_number("+1******0142") == "+1******0142"
    scrub = Scrubber(["Ada Lovelace"])
    text = scrub({"m": ["Ada said: call +1 415 555 0142, ask for lovelace", 3]})
    assert text == {"m": ["[erased] said: call +1******0142, ask for [erased]", 3]}
