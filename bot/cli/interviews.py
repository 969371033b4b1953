"""`bot schedule` and `bot interviews` (list, show, cancel) against DATABASE_URL."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.cli.calls import run_on_store
from bot.config import Settings, load_settings, tz_variable
from bot.interview.lifecycle import STATUSES
from bot.interview.schedule import DEFAULT_WINDOW, InvalidField, validate, zone
from bot.observability.logs import mask_phone
from bot.store import Store
from bot.store.erasure import UnknownInterview, erase_interview
from bot.store.interviews import Conflict, InterviewStore, NotFound
from bot.store.journal import JOURNAL_DIR
from bot.store.retention import RecordingDeleter

COLUMNS = (
    "id",
    "code",
    "status",
    "scheduled (local)",
    "timezone",
    "candidate",
    "phone",
    "profile",
    "tries",
    "next attempt (UTC)",
)


def local_zone() -> str:
    """This machine's IANA zone (TZ, /etc/timezone or the /etc/localtime link), else UTC."""
    candidates = [tz_variable()]
    with_file = Path("/etc/timezone")
    if with_file.is_file():
        candidates.append(with_file.read_text().strip())
    link = Path("/etc/localtime")
    if link.is_symlink():
        candidates.append(str(link.resolve()).split("zoneinfo/", 1)[-1])
    for name in candidates:
        try:
            return zone(name).key
        except ValueError:
            continue
    return "UTC"


def add_schedule_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", required=True, help="the candidate's name")
    parser.add_argument("--phone", required=True, help="E.164 number, like +14155550123")
    parser.add_argument("--profile", required=True, help="interview profile name")
    parser.add_argument(
        "--at", required=True, help="ISO 8601 time; without an offset it is local to --timezone"
    )
    parser.add_argument("--timezone", help="the candidate's IANA zone (default: this machine's)")
    parser.add_argument(
        "--window",
        default="-".join(DEFAULT_WINDOW),
        help="local calling hours HH:MM-HH:MM (default 09:00-20:00)",
    )
    parser.add_argument("--role", help="the role applied for, if not the profile's")
    parser.add_argument("--json", action="store_true", help="print the interview as JSON")


def add_interviews_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--status", choices=STATUSES, help="only interviews with this status")
    parser.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    sub = parser.add_subparsers(dest="interviews_command", metavar="{show,cancel,erase}")
    for name, text in (
        ("show", "one interview with its attempts"),
        ("cancel", "cancel one"),
        ("erase", "erase the candidate's personal data (recordings, transcripts, number, name)"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("interview_id", metavar="ID")
        p.add_argument("--json", action="store_true", default=argparse.SUPPRESS)


def _schedule_fields(args: argparse.Namespace) -> dict[str, Any]:
    tz = args.timezone or local_zone()
    at = args.at.strip()
    try:
        parsed = datetime.fromisoformat(at)
        if parsed.tzinfo is None:
            at = parsed.replace(tzinfo=zone(tz)).isoformat()
    except ValueError:
        pass  # validate() names the field
    start, _, end = args.window.partition("-")
    body = {
        "candidate_name": args.name,
        "phone": args.phone,
        "profile": args.profile,
        "scheduled_at": at,
        "timezone": tz,
        "window_start": start,
        "window_end": end,
    }
    if args.role:
        body["role"] = args.role
    return validate(body)


def _local(value: str | None, tz: str) -> str:
    if not value:
        return "-"
    return datetime.fromisoformat(value).astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M")


def table(interviews: list[dict[str, Any]]) -> str:
    """Interviews as an aligned text table (phone numbers masked)."""
    rows = [
        (
            i["id"],
            i["code"],
            i["status"],
            _local(i["scheduled_at"], i["timezone"]),
            i["timezone"],
            i["candidate_name"],
            mask_phone(i["phone"]),
            i["profile"],
            str(i["attempts_used"]),
            _local(i["next_attempt_at"], "UTC"),
        )
        for i in interviews
    ]
    widths = [max(len(r[n]) for r in [COLUMNS, *rows]) for n in range(len(COLUMNS))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [COLUMNS, *rows]
    ]
    return "\n".join(lines)


def details(iv: dict[str, Any]) -> str:
    """One interview and its attempts as text."""
    lines = [
        f"Interview {iv['id']}  code {iv['code']}  {iv['status']}",
        f"  candidate   {iv['candidate_name']}  {mask_phone(iv['phone'])}",
        f"  profile     {iv['profile']}  role {iv.get('role') or '-'}",
        f"  scheduled   {_local(iv['scheduled_at'], iv['timezone'])} {iv['timezone']}"
        f"  (window {iv['window_start']}-{iv['window_end']})",
        f"  next try    {_local(iv['next_attempt_at'], 'UTC')} UTC",
        "",
        "Attempts",
    ]
    for a in iv.get("attempts", []):
        error = a["error"]
        text = f"  error {error['code']}: {error['message']}" if error else ""
        if a.get("answered_by"):  # Twilio's AMD verdict, and the message left on a machine
            text += f"  by {a['answered_by']}"
        if a.get("voicemail_at"):
            text += f"  voicemail left {_local(a['voicemail_at'], 'UTC')} UTC"
        lines.append(
            f"  {a['seq']:>2}  {_local(a['at'], 'UTC')} UTC  {a['call_sid'] or '-':34}"
            f"  {a['outcome']}{text}"
        )
    if not iv.get("attempts"):
        lines.append("  (none yet)")
    return "\n".join(lines)


async def _run(args: argparse.Namespace, url: str) -> int:
    store = await Store.open(url)
    interviews = InterviewStore(store.engine)
    try:
        if args.command == "schedule":
            iv = await interviews.create(_schedule_fields(args))
            print(
                json.dumps(iv)
                if args.json
                else f"scheduled {iv['id']} (code {iv['code']}) for "
                f"{_local(iv['scheduled_at'], iv['timezone'])} {iv['timezone']}"
            )
            return 0
        command = getattr(args, "interviews_command", None)
        if command == "erase":
            return await _erase(args, store)
        if command in ("show", "cancel"):
            if command == "cancel":
                await interviews.cancel(args.interview_id)
            iv = await interviews.get(args.interview_id)
            if iv is None:
                raise NotFound(args.interview_id)
            print(
                json.dumps(iv)
                if args.json
                else f"cancelled {iv['id']}"
                if command == "cancel"
                else details(iv)
            )
            return 0
        if not 1 <= args.limit <= 1000:
            raise InvalidField("--limit", "must be from 1 to 1000")
        listed = await interviews.list(status=args.status, limit=args.limit)
        if args.json:
            for iv in listed:
                print(json.dumps(iv))
        else:
            print(table(listed) if listed else "no interviews")
        return 0
    except InvalidField as exc:
        print(f"bot {args.command}: {exc}", file=sys.stderr)
        return 2
    except (NotFound, UnknownInterview) as exc:
        print(f"bot interviews: no interview {exc}", file=sys.stderr)
        return 1
    except Conflict as exc:
        print(f"bot interviews: {exc}", file=sys.stderr)
        return 1
    finally:
        await store.close()


async def _erase(args: argparse.Namespace, store: Store) -> int:
    """`bot interviews erase ID`: exit 0 (also when erased before), 1 unknown or being called."""
    settings = load_settings()
    erased = await erase_interview(
        store.engine,
        args.interview_id,
        by="cli",
        journal_dir=settings.data_dir / JOURNAL_DIR,
        recordings=cli_recordings(settings),
    )
    if args.json:
        print(json.dumps({"already_erased": erased.already_erased, "erasure": erased.erasure}))
        return 0
    counts = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in erased.erasure["counts"].items())
    if erased.already_erased:
        print(f"{args.interview_id}: already erased ({erased.erasure['id']})")
    else:
        print(f"erased {args.interview_id} ({erased.erasure['id']}): {counts}")
    return 0


def cli_recordings(settings: Settings) -> RecordingDeleter:
    """The recordings store's delete (RECORDINGS_DIR or RECORDINGS_URL), as `bot serve` uses;
    with RECORDING=off and nothing ever stored there, still the store (old files go too)."""
    from bot.recording.build import build_store

    return build_store(settings).delete


def main(args: argparse.Namespace) -> int:
    """Run `bot schedule` or `bot interviews …` against DATABASE_URL."""
    return run_on_store(_run, args)
