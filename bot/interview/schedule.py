"""When an interview may be called, pure: input validation, calling windows and the retry policy."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_WINDOW = ("09:00", "20:00")
MAX_NAME = 200
FIELDS = (
    "candidate_name",
    "phone",
    "profile",
    "role",
    "timezone",
    "scheduled_at",
    "window_start",
    "window_end",
)
_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_PROFILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class InvalidField(ValueError):
    """One input field is wrong; str() is 'field: what is expected'."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def parse_hhmm(value: str) -> time:
    """'09:30' -> time(9, 30); ValueError otherwise."""
    match = _HHMM.match(value)
    if not match:
        raise ValueError(value)
    return time(int(match[1]), int(match[2]))


def zone(name: str) -> ZoneInfo:
    """The IANA zone; ValueError for anything else (including fixed offsets and 'local')."""
    if not name or ("/" not in name and name != "UTC"):
        raise ValueError(name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(name) from exc


def parse_when(value: str) -> datetime:
    """ISO 8601 with an offset (a 'Z' works) -> aware UTC datetime; ValueError otherwise."""
    parsed = datetime.fromisoformat(value.strip())
    if parsed.tzinfo is None:
        raise ValueError("no offset")
    return parsed.astimezone(UTC)


@dataclass(frozen=True)
class Window:
    """The local hours [start, end) in which a candidate may be called."""

    tz: ZoneInfo
    start: time
    end: time

    @classmethod
    def of(cls, row: Any) -> Window:
        """The window of an interview row or dict."""
        return cls(
            zone(row["timezone"]), parse_hhmm(row["window_start"]), parse_hhmm(row["window_end"])
        )

    def contains(self, at: datetime) -> bool:
        local = at.astimezone(UTC).astimezone(self.tz).time()  # via UTC: DST gaps normalised
        return self.start <= local < self.end

    def next_open(self, at: datetime) -> datetime:
        """`at` if it is inside the window, else the window's next opening (UTC)."""
        if self.contains(at):
            return at.astimezone(UTC)
        local = at.astimezone(self.tz)
        day = local.date() if local.time() < self.start else local.date() + timedelta(days=1)
        for _ in range(3):  # a DST change can make one local opening fall inside a gap
            opening = datetime.combine(day, self.start, tzinfo=self.tz).astimezone(UTC)
            if self.contains(opening) and opening > at:  # not so if it fell in a DST gap
                return opening
            day += timedelta(days=1)
        raise AssertionError("no window opening within three days")  # start < end makes this moot

    def describe(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M} {self.tz.key}"


def validate(
    body: Any, *, partial: bool = False, profiles: set[str] | None = None
) -> dict[str, Any]:
    """Checked, normalised interview fields from a JSON object; InvalidField names the bad one.

    partial=True (PATCH) accepts any subset of the fields. Windows and the scheduled time are
    checked together by `check_schedule`.
    """
    if not isinstance(body, dict):
        raise InvalidField("body", "must be a JSON object")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise InvalidField(unknown[0], f"unknown field (allowed: {', '.join(FIELDS)})")
    required = () if partial else ("candidate_name", "phone", "profile", "timezone", "scheduled_at")
    for name in required:
        if body.get(name) in (None, ""):
            raise InvalidField(name, "required")
    out: dict[str, Any] = {}
    for name in (f for f in FIELDS if f in body):  # a bad zone is named before the time
        value = body[name]
        if value is None and name == "role":
            out["role"] = None
            continue
        if not isinstance(value, str):
            raise InvalidField(name, "must be a string")
        value = value.strip()
        if name in ("candidate_name", "role"):
            if not value or len(value) > MAX_NAME or any(ord(c) < 32 for c in value):
                raise InvalidField(name, f"must be 1-{MAX_NAME} printable characters")
        elif name == "phone":
            value = re.sub(r"[\s().-]", "", value)
            if not _E164.match(value):
                raise InvalidField(name, "must be an E.164 number like +14155550123")
        elif name == "profile":
            if not _PROFILE.match(value):
                raise InvalidField(name, "must be a profile name like 'backend'")
            if profiles is not None and value not in profiles:
                raise InvalidField(name, f"unknown profile (known: {', '.join(sorted(profiles))})")
        elif name == "scheduled_at":
            try:
                out[name] = parse_when(value)
            except ValueError:
                raise InvalidField(
                    name, "must be ISO 8601 with an offset, like 2026-11-25T15:00:00+01:00"
                ) from None
            continue
        elif name == "timezone":
            try:
                zone(value)
            except ValueError:
                raise InvalidField(name, "must be an IANA time zone like Europe/Paris") from None
        elif name in ("window_start", "window_end"):
            try:
                parse_hhmm(value)
            except ValueError:
                raise InvalidField(name, "must be local time HH:MM like 09:00") from None
        out[name] = value
    return out


def check_schedule(fields: dict[str, Any], now: datetime) -> None:
    """The window is a same-day range and the scheduled time is inside it and not long past."""
    window = Window.of(fields)
    if not window.start < window.end:
        raise InvalidField("window_end", "must be later than window_start (same day)")
    if fields["scheduled_at"] < now - timedelta(minutes=5):
        raise InvalidField("scheduled_at", "is in the past")
    if not window.contains(fields["scheduled_at"]):
        local = fields["scheduled_at"].astimezone(window.tz)
        raise InvalidField(
            "scheduled_at",
            f"{local:%H:%M} local time is outside the calling window {window.describe()}",
        )


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how soon an unreached candidate is called again."""

    max_attempts: int = 3
    backoff_s: float = 600.0
    backoff_max_s: float = 7200.0
    resume_after_s: float = 120.0  # a dropped call is called back after (DIALER_RESUME_AFTER_S)
    resume_window_s: float = 3600.0  # a call starting within this resumes (RESUME_WINDOW_MIN)

    def delay(self, tries: int) -> timedelta:
        """The wait after the tries-th unsuccessful attempt: backoff_s, doubling, capped."""
        return timedelta(seconds=min(self.backoff_s * 2 ** max(0, tries - 1), self.backoff_max_s))

    def after_failure(self, tries: int, now: datetime, window: Window) -> datetime | None:
        """When to call again (inside the window), or None when the attempts are used up."""
        if tries >= self.max_attempts:
            return None
        return window.next_open(now + self.delay(tries))
