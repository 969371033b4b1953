"""`bot doctor [--json] [--fix-twilio]`: run every check in order, print them, exit 0/1/2."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.cli.doctor import local, twilio, voicelive, web
from bot.cli.doctor.report import Check, clean, failed, passed, render_json, render_lines
from bot.config import ConfigError, Settings, load_settings
from bot.observability.logs import configure, mask_phone

EXIT_OK, EXIT_FAILED, EXIT_BAD_SETTINGS = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help='print {"ok": …, "checks": […]}')
    parser.add_argument(
        "--fix-twilio",
        action="store_true",
        help="point TWILIO_PHONE_NUMBER's voice URL and status callback at PUBLIC_URL "
        "(the one change the doctor makes, and only with this flag)",
    )


def _settings_check(settings: Settings) -> Check:
    mode = "development mode (no Twilio settings)" if settings.dev_mode else "production mode"
    parts = [mode, f"PUBLIC_URL {settings.public_url}"]
    if settings.twilio_phone_number:
        parts.append(f"number {mask_phone(settings.twilio_phone_number)}")
    engine = settings.voice_live_endpoint or "the local engine"
    parts.append(f"Voice Live {engine} ({settings.voice_live_model})")
    return passed("settings", "valid: " + ", ".join(parts))


async def run_checks(settings: Settings, *, fix_twilio: bool = False) -> list[Check]:
    """Every check after `settings`, in the documented order."""
    checks = [_settings_check(settings), await local.check_database(settings)]
    profiles_check, profiles = local.check_profiles(settings)
    checks += [profiles_check, await web.check_public_url(settings)]
    rest = twilio.rest_client(settings)
    account = await twilio.check_account(settings, rest)
    checks += [account, await twilio.check_number(settings, rest, account, fix=fix_twilio)]
    profile = (profiles or {}).get(settings.default_profile)
    checks += await voicelive.voice_live_checks(settings, profile)
    return checks


def main(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()  # the environment, plus ./.env
    except ConfigError as exc:
        check = failed("settings", str(exc), "correct the variable named, then run again")
        print(render_json([check]) if args.json else render_lines([check]))
        print(f"bot: configuration error: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    configure("console", "warning", settings.secrets)  # library chatter to stderr, not stdout
    checks = clean(asyncio.run(run_checks(settings, fix_twilio=args.fix_twilio)), settings.secrets)
    print(render_json(checks) if args.json else render_lines(checks))
    return EXIT_OK if all(c.ok for c in checks) else EXIT_FAILED
