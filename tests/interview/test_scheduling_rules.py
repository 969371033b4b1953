"""Pure scheduling rules: calling windows (across DST), backoff, outcomes, REST error classes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.interview.outcomes import interview_step, outcome, transient
from bot.interview.schedule import RetryPolicy, Window, parse_hhmm, zone

NY = Window(zone("America/New_York"), parse_hhmm("09:00"), parse_hhmm("20:00"))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_window_contains_and_next_open() -> None:
    assert NY.contains(utc(2026, 11, 24, 14, 0))  # 09:00 NY: opening minute is inside
    assert not NY.contains(utc(2026, 11, 25, 1, 0))  # 20:00 NY: closed
    assert NY.next_open(utc(2026, 11, 24, 15, 30)) == utc(2026, 11, 24, 15, 30)
    assert NY.next_open(utc(2026, 11, 24, 8, 0)) == utc(2026, 11, 24, 14, 0)  # 03:00 -> 09:00
    assert NY.next_open(utc(2026, 11, 25, 2, 0)) == utc(2026, 11, 25, 14, 0)  # 21:00 -> next day


def test_window_follows_daylight_saving() -> None:
    # US DST starts Sunday 2026-03-08: 09:00 is 14:00 UTC the day before, 13:00 UTC that day
    assert NY.next_open(utc(2026, 3, 8, 3, 0)) == utc(2026, 3, 8, 13, 0)
    assert NY.next_open(utc(2026, 3, 7, 3, 0)) == utc(2026, 3, 7, 14, 0)
    # a window opening inside the spring-forward gap (02:30 does not exist that day)
    night = Window(zone("America/New_York"), parse_hhmm("02:30"), parse_hhmm("03:30"))
    opening = night.next_open(utc(2026, 3, 8, 5, 0))  # 00:00 local
    assert night.contains(opening) and opening > utc(2026, 3, 8, 5, 0)


def test_backoff_doubles_capped_and_stops_after_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=4, backoff_s=600, backoff_max_s=1800)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [
        timedelta(minutes=10),
        timedelta(minutes=20),
        timedelta(minutes=30),
        timedelta(minutes=30),
    ]
    now = utc(2026, 11, 24, 15, 0)
    assert policy.after_failure(1, now, NY) == now + timedelta(minutes=10)
    assert policy.after_failure(4, now, NY) is None
    late = utc(2026, 11, 25, 0, 55)  # 19:55 NY: ten minutes on is after the window
    assert policy.after_failure(1, late, NY) == utc(2026, 11, 25, 14, 0)


@pytest.mark.parametrize(
    ("status", "answered_by", "expected", "step"),
    [
        ("ringing", None, "ringing", "dialing"),
        ("in-progress", "human", "in-progress", "in_progress"),
        ("completed", "human", "completed", "completed"),
        ("completed", "unknown", "completed", "completed"),
        ("completed", "machine_end_beep", "voicemail", "retry"),
        ("in-progress", "machine_start", "voicemail", "retry"),
        ("completed", "fax", "fax", "failed"),
        ("busy", None, "busy", "retry"),
        ("no-answer", None, "no-answer", "retry"),
        ("failed", None, "failed", "retry"),
    ],
)
def test_outcomes(status: str, answered_by: str | None, expected: str, step: str) -> None:
    assert outcome(status, answered_by) == expected
    assert interview_step(expected) == step


def test_rest_errors_transient_or_permanent() -> None:
    assert transient(429, 20429) and transient(500, 20500) and transient(503, None)
    assert transient(None, None)  # no answer at all
    for status, code in ((401, 20003), (400, 21211), (400, 21210), (404, 20404)):
        assert not transient(status, code)
