"""One check's verdict, and the doctor's output: ✓/✗ lines, or the JSON document."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from bot.observability.logs import Scrubber

NAMES = (
    "settings",
    "database",
    "profiles",
    "public_url",
    "twilio_account",
    "twilio_number",
    "voice_live_connect",
    "voice_live_session",
    "voice_live_response",
)


@dataclass(frozen=True)
class Check:
    """A check's name, whether it passed, what it found, and (when it failed) the fix."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None


def passed(name: str, detail: str) -> Check:
    return Check(name, True, detail)


def failed(name: str, detail: str, fix: str) -> Check:
    return Check(name, False, detail, fix)


def skipped(name: str, because: str, fix: str) -> Check:
    """A check that could not run because an earlier one failed (counts as failed)."""
    return Check(name, False, f"not checked: {because}", fix)


def safe_url(url: str) -> str:
    """A URL without user:password (a webhook URL may carry basic-auth credentials)."""
    split = urlsplit(url)
    if "@" not in split.netloc:
        return url
    return urlunsplit(split._replace(netloc="***@" + split.netloc.rsplit("@", 1)[1]))


def clean(checks: Iterable[Check], secrets: Iterable[str]) -> list[Check]:
    """Mask secrets and phone numbers everywhere, whatever a message quoted."""
    scrub = Scrubber(secrets)
    return [
        Check(c.name, c.ok, scrub._clean(c.detail), scrub._clean(c.fix) if c.fix else None)
        for c in checks
    ]


def render_lines(checks: Iterable[Check]) -> str:
    """One line per check: ✓/✗, the name, what was found, and the fix."""
    lines = []
    for c in checks:
        line = f"{'✓' if c.ok else '✗'} {c.name:<19} {c.detail}"
        if not c.ok and c.fix:
            line += f" — fix: {c.fix}"
        lines.append(line)
    return "\n".join(lines)


def render_json(checks: list[Check]) -> str:
    """{"ok": bool, "checks": [{"name", "ok", "detail", "fix"}]}."""
    return json.dumps(
        {
            "ok": all(c.ok for c in checks),
            "checks": [
                {"name": c.name, "ok": c.ok, "detail": c.detail, "fix": c.fix} for c in checks
            ],
        },
        ensure_ascii=False,
    )
