"""`bot calls`: recent calls as a table or JSON lines; `bot calls show CALLSID` for one call."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.cli import recording
from bot.config import ConfigError, load_settings
from bot.observability.logs import configure
from bot.store import CALL_STATUSES, Store, database_url

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
COLUMNS = (
    "started (UTC)",
    "call sid",
    "direction",
    "status",
    "duration",
    "end reason",
    "turns",
    "barge-ins",
    "p50/p95 ms",
    "cost",
)


def parse_since(raw: str, now: datetime | None = None) -> datetime:
    """'1h', '2d', '30m', '1w', '90s' ago, or an ISO 8601 time (UTC when it has no offset)."""
    match = _RELATIVE.match(raw.strip().lower())
    if match:
        return (now or datetime.now(UTC)) - timedelta(seconds=float(match[1]) * _UNITS[match[2]])
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--since: expected an ISO 8601 time or an age like 1h, 2d; got {raw!r}"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _limit(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"--limit: must be an integer from 1 to 1000; got {raw!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `bot calls` and its `show` subcommand."""
    parser.add_argument("--since", type=parse_since, help="ISO 8601 time, or an age: 1h, 2d")
    parser.add_argument("--status", choices=CALL_STATUSES, help="only calls with this status")
    parser.add_argument("--limit", type=_limit, default=20, help="at most this many (default 20)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    sub = parser.add_subparsers(dest="calls_command", metavar="show | recording")
    show = sub.add_parser("show", help="one call: summary, timeline and transcript")
    show.add_argument("call_sid", metavar="CALLSID")
    show.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="the call as JSON"
    )
    recording.add_parser(sub)


# --- formatting -----------------------------------------------------------------------------


def _time(value: str | None) -> str:
    if not value:
        return "-"
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _cost(value: float | None) -> str:
    return f"${value or 0:.4f}"


def _offset(seconds: float) -> str:
    return f"+{seconds:.2f}s"


def table(calls: list[dict[str, Any]]) -> str:
    """Recent calls as an aligned text table."""
    rows = [
        (
            _time(c["started_at"]),
            c["call_sid"],
            c["direction"] or "-",
            c["status"],
            _duration(c["duration_s"]),
            c["end_reason"] or "-",
            str(c["turns"]),
            str(c["barge_ins"]),
            f"{_ms(c['response_ms_p50'])}/{_ms(c['response_ms_p95'])}",
            _cost(c["cost_usd"]),
        )
        for c in calls
    ]
    widths = [max(len(r[i]) for r in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    header = "  ".join(name.ljust(w) for name, w in zip(COLUMNS, widths, strict=True))
    return "\n".join(line.rstrip() for line in [header, *lines])


def _since_start(call: dict[str, Any], when: str | None) -> float:
    if not when:
        return 0.0
    start = datetime.fromisoformat(call["started_at"])
    return (datetime.fromisoformat(when) - start).total_seconds()


def timeline(call: dict[str, Any]) -> list[tuple[float, str]]:
    """(seconds since start, event) for the call's milestones, errors and barge-ins, in order."""
    events: list[tuple[float, str]] = [(0.0, f"call started ({call['direction']})")]
    if call.get("answered_at"):
        events.append((_since_start(call, call["answered_at"]), "answered"))
    for turn in call.get("transcript", []):
        if turn["interrupted"]:
            events.append((turn["offset_ms"] / 1000, f"{turn['speaker']} cut off (barge-in)"))
    for error in call.get("errors", []):
        code = f" {error.get('code')}" if error.get("code") else ""
        text = f"error from {error.get('source')}{code}: {error.get('message')}"
        events.append((_since_start(call, error.get("at")), text))
    if call.get("voicemail_at"):  # a dialer call AMD said a machine answered
        events.append((_since_start(call, call["voicemail_at"]), "voicemail message left"))
    if call.get("ended_at"):
        reason = call.get("end_reason") or "-"
        events.append((_since_start(call, call["ended_at"]), f"call ended: {reason}"))
    return sorted(events, key=lambda e: e[0])


def summary(call: dict[str, Any]) -> str:
    """The call's summary, timeline and transcript as text."""
    usage = call["usage"]
    lines = [
        f"Call {call['call_sid']}  {call['direction']}  {call['status']}",
        f"  interview   {call.get('interview_id') or '-'}  profile {call.get('profile') or '-'}",
        f"  from / to   {call.get('from') or '-'} -> {call.get('to') or '-'}",
        f"  started     {_time(call['started_at'])} UTC",
        f"  answered    {_time(call.get('answered_at'))}"
        + (f"  by {call['answered_by']}" if call.get("answered_by") else ""),
        f"  ended       {_time(call.get('ended_at'))}",
        f"  duration    {_duration(call.get('duration_s'))}",
        f"  end reason  {call.get('end_reason') or '-'}",
        f"  turns       {call['turns']}   barge-ins {call['barge_ins']}",
        f"  response    p50 {_ms(call['response_ms_p50'])} ms   "
        f"p95 {_ms(call['response_ms_p95'])} ms",
        f"  tokens      in text {usage['input_text_tokens']}, in audio "
        f"{usage['input_audio_tokens']}, cached text {usage['cached_text_tokens']}, "
        f"cached audio {usage['cached_audio_tokens']}, out text {usage['output_text_tokens']}, "
        f"out audio {usage['output_audio_tokens']}"
        + (" (cached split estimated)" if usage.get("cached_split") == "estimated" else ""),
        f"  cost        {_cost(call['cost_usd'])}",
        f"  errors      {len(call.get('errors') or [])}",
        "",
        "Timeline",
    ]
    lines += [f"  {_offset(at):>9}  {text}" for at, text in timeline(call)]
    lines += ["", "Transcript"]
    transcript = call.get("transcript") or []
    if not transcript:
        lines.append("  (no turns recorded)")
    for turn in transcript:
        cut = " (cut off)" if turn["interrupted"] else ""
        offset = _offset(turn["offset_ms"] / 1000)
        lines.append(f"  {turn['speaker']:<6}  {offset:>9}  {turn['text']}{cut}")
    return "\n".join(lines + interview_lines(call))


def interview_lines(call: dict[str, Any]) -> list[str]:
    """The interview report's per-question summary and the assessments, as text."""
    lines: list[str] = []
    report = call.get("report")
    if report and "error" in report:
        lines += ["", f"Report: {report['error']}"]
    elif report:
        high = report["score_range"][1]
        mean = report.get("mean_score")
        lines += ["", f"Questions (profile {report['profile']}, "
                      f"{report['questions_asked']} of {report['questions_total']} asked, "
                      f"mean score {'-' if mean is None else mean})"]  # fmt: skip
        for q in report["questions"]:
            asked = "asked" if q["asked"] else "not asked"
            score = "-" if q["score"] is None else f"{q['score']}/{high}"
            lines.append(f"  Q{q['number']}  {asked:<9}  score {score:<5}  {q['question']}")
            if q["evidence"]:
                lines.append(f'      evidence: "{q["evidence"]}"')
        for key in report.get("keys") or []:
            lines.append(f"  {_offset(key['offset_ms'] / 1000):>9}  caller pressed {key['key']}")
    assessments = call.get("assessments") or []
    if assessments:
        lines += ["", "Assessments"]
        for a in assessments:
            offset = _offset(a["offset_ms"] / 1000)
            lines.append(f"  {offset:>9}  score {a['score']}  {a['question']}")
            lines.append(f'             "{a["evidence"]}"')
    return lines


# --- command --------------------------------------------------------------------------------


async def _run(args: argparse.Namespace, url: str) -> int:
    store = await Store.open(url)
    try:
        if args.calls_command == "show":
            call = await store.get_call(args.call_sid)
            if call is None:
                print(f"bot calls show: no call {args.call_sid} in the call log", file=sys.stderr)
                return 1
            print(json.dumps(call, indent=2) if args.json else summary(call))
            return 0
        calls, following = await store.list_calls(
            since=args.since, status=args.status, limit=args.limit
        )
    finally:
        await store.close()
    if args.json:
        for call in calls:
            print(json.dumps(call))
    elif not calls:
        print("no calls")
    else:
        print(table(calls))
        if following:
            print(f"(more calls: raise --limit above {args.limit} or narrow --since)")
    return 0


def main(args: argparse.Namespace) -> int:
    """Run `bot calls` (or `bot calls show`) against DATABASE_URL."""
    if args.calls_command == "recording":
        return recording.main(args)
    return run_on_store(_run, args)


def run_on_store(
    run: Callable[[argparse.Namespace, str], Awaitable[int]], args: argparse.Namespace
) -> int:
    """Run a store command with the database DATABASE_URL names (exit 2 on a bad setting)."""
    try:
        settings = load_settings()
        url = database_url(settings.database_url, settings.data_dir)
    except (ConfigError, ValueError) as exc:
        print(f"bot: configuration error: {exc}", file=sys.stderr)
        return 2
    configure("console", "warning", settings.secrets)
    return asyncio.run(run(args, url))
