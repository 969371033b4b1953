"""The call log's column values from what callers pass: checked, expanded, errors stamped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.store.rows import CALL_STATUSES, USAGE_FIELDS, iso, percentile
from bot.store.tables import CALL_COLUMNS

_READ_ONLY = frozenset({"call_sid"})


def now() -> datetime:
    return datetime.now(UTC)


def column_values(fields: dict[str, Any]) -> dict[str, Any]:
    """Validated column values for an update (usage={…} and response_ms=[…] are expanded)."""
    values = dict(fields)
    usage = values.pop("usage", None)
    if usage is not None:
        for name in USAGE_FIELDS:
            if name in usage:
                values.setdefault(name, int(usage[name]))
    unknown = sorted(set(values) - (CALL_COLUMNS - _READ_ONLY))
    if unknown:
        raise ValueError(f"unknown call field(s): {', '.join(unknown)}")
    if "status" in values and values["status"] not in CALL_STATUSES:
        raise ValueError(f"status must be one of {', '.join(CALL_STATUSES)}")
    for name, value in values.items():
        if isinstance(value, datetime) and value.tzinfo is None:
            values[name] = value.replace(tzinfo=UTC)
    if "response_ms" in values:
        samples = [float(v) for v in values["response_ms"] or []]
        values["response_ms"] = samples
        values.setdefault("response_ms_p50", percentile(samples, 50))
        values.setdefault("response_ms_p95", percentile(samples, 95))
    if "errors" in values:
        values["errors"] = [
            error_entry(**e) if "at" not in e else dict(e) for e in values["errors"]
        ]
    return values


def error_entry(*, source: str, code: str | None, message: str, at: Any = None) -> dict[str, Any]:
    """One entry of a call's errors: {at, source, code, message}, at defaulting to now."""
    when = at if isinstance(at, str) else iso(at or now())
    return {"at": when, "source": source, "code": code, "message": message}
