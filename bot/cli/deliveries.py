"""`bot deliveries [--failed]`: the results webhook's events and their delivery, table or JSON."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from bot.cli.calls import _limit, parse_since, run_on_store
from bot.store import Store
from bot.store.outbox import Outbox
from bot.store.outbox_events import EVENT_TYPES
from bot.store.outbox_tables import STATUSES

COLUMNS = ("created (UTC)", "event id", "type", "subject", "status", "tries", "last", "next")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `bot deliveries`."""
    parser.add_argument("--failed", action="store_true", help="only events that failed for good")
    parser.add_argument("--status", choices=STATUSES, help="only events with this status")
    parser.add_argument("--type", choices=EVENT_TYPES, dest="kind", help="only this event type")
    parser.add_argument("--since", type=parse_since, help="ISO 8601 time, or an age: 1h, 2d")
    parser.add_argument("--limit", type=_limit, default=20, help="at most this many (default 20)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")


def _time(value: str | None) -> str:
    if not value:
        return "-"
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _last(row: dict[str, Any]) -> str:
    if row["last_error"]:
        return row["last_error"][:40]
    return "-" if row["last_status"] is None else f"HTTP {row['last_status']}"


def table(rows: list[dict[str, Any]]) -> str:
    """Events as an aligned text table."""
    cells = [
        (_time(r["created_at"]), r["id"], r["type"], r["subject"] or "-", r["status"],
         str(r["attempts"]), _last(r), _time(r["next_attempt_at"]))
        for r in rows
    ]  # fmt: skip
    widths = [max(len(c[i]) for c in [COLUMNS, *cells]) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(c, widths, strict=True))
        for c in [COLUMNS, *cells]
    ]
    return "\n".join(line.rstrip() for line in lines)


async def _run(args: argparse.Namespace, url: str) -> int:
    store = await Store.open(url)
    try:
        outbox = Outbox(store.engine)
        status = "failed" if args.failed else args.status
        rows, following = await outbox.list(
            status=status, kind=args.kind, since=args.since, limit=args.limit
        )
        backlog = await outbox.backlog()
    finally:
        await store.close()
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    print(table(rows) if rows else "no deliveries")
    if following:
        print(f"(more: raise --limit above {args.limit} or narrow --since)")
    print(f"backlog: {backlog} event(s) waiting for delivery")
    return 0


def main(args: argparse.Namespace) -> int:
    """Run `bot deliveries` against DATABASE_URL."""
    return run_on_store(_run, args)
