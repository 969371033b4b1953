"""The `bot` command line: serve, local-engine, softphone, calls, schedule, interviews, doctor."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot import softphone as phone
from bot.cli import calls as calls_cli
from bot.cli import deliveries as deliveries_cli
from bot.cli import interviews as interviews_cli
from bot.cli.doctor import cli as doctor_cli
from bot.config import ConfigError, Settings, environment, load_settings
from bot.interview.profiles import ProfileError, load_profiles
from bot.observability import telemetry
from bot.observability.logs import configure

WS_MAX_SIZE = 1024 * 1024  # larger frames close the socket; up to this, the bridge logs and skips


def _settings(**overrides: str) -> Settings:
    """Settings from the environment (and .env), or exit 2 naming the bad variable."""
    try:
        return load_settings({**environment(), **overrides})
    except ConfigError as exc:
        print(f"bot: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def serve(args: argparse.Namespace) -> int:
    """Run the service with uvicorn; SIGTERM drains (bot/http/drain.py) and exits 0."""
    import uvicorn

    from bot.http.app import create_app
    from bot.http.drain import DrainingServer

    overrides = {"PORT": str(args.port)} if args.port else {}
    if args.host:
        overrides["HOST"] = args.host
    settings = _settings(**overrides)
    try:  # the lifespan loads them again; checking here first gives a plain message, exit 2
        load_profiles(settings.profiles_dir, settings.default_profile)
    except ProfileError as exc:
        print(f"bot: configuration error: {exc}", file=sys.stderr)
        return 2
    configure(settings.log_format, settings.log_level, settings.secrets)
    try:
        telemetry.setup(settings)
        app = create_app(settings)
    except ConfigError as exc:
        print(f"bot: configuration error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:  # the `azure` extra is what telemetry and Entra ID need
        print(f"bot: {exc.name} is not installed: pip install 'bot[azure]'", file=sys.stderr)
        return 2
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        ws="websockets-sansio",
        loop="auto",  # uvloop (a dependency) where it is installed, else asyncio
        ws_max_size=WS_MAX_SIZE,
        ws_ping_interval=None,
        lifespan="on",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = DrainingServer(
        config, lambda: getattr(app.state, "services", None), settings.drain_timeout_s
    )
    server.run()  # frozen for the collector once started: DrainingServer.startup
    return 1 if server.forced else 0


def local_engine(args: argparse.Namespace) -> int:
    """Run the offline Voice Live-compatible engine on its own."""
    from bot.localengine import serve_forever

    settings = _settings()
    configure(settings.log_format, settings.log_level, settings.secrets)
    asyncio.run(
        serve_forever(
            args.host, args.port, fail_responses=args.fail_responses, fail_every=args.fail_every
        )
    )
    return 0


def softphone(args: argparse.Namespace) -> int:
    """Call the bot as Twilio and a caller would."""
    settings = _settings()
    configure("console", "warning", settings.secrets)
    return phone.main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bot", description="AI telephone interviewer")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="run the service (webhooks, media stream)")
    p.add_argument("--host", help="interface to listen on (default: HOST, or 127.0.0.1 in dev)")
    p.add_argument("--port", type=int, help="port to listen on (default: PORT or 8080)")
    p.set_defaults(func=serve)
    p = sub.add_parser("local-engine", help="run the offline Voice Live-compatible engine")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--fail-responses", type=int, default=0, metavar="N",
                   help="the first N responses fail (status failed, rate limit)")  # fmt: skip
    p.add_argument("--fail-every", type=int, default=0, metavar="K",
                   help="every K-th response fails (status failed, rate limit)")  # fmt: skip
    p.set_defaults(func=local_engine)
    p = sub.add_parser("softphone", help="call the bot as Twilio and a caller would")
    phone.add_arguments(p)
    p.set_defaults(func=softphone)
    p = sub.add_parser("calls", help="recent calls; `calls show CALLSID` for one call")
    calls_cli.add_arguments(p)
    p.set_defaults(func=calls_cli.main)
    p = sub.add_parser("schedule", help="schedule an outbound interview")
    interviews_cli.add_schedule_arguments(p)
    p.set_defaults(func=interviews_cli.main)
    p = sub.add_parser("interviews", help="scheduled interviews; `interviews cancel ID` cancels")
    interviews_cli.add_interviews_arguments(p)
    p.set_defaults(func=interviews_cli.main)
    p = sub.add_parser("deliveries", help="results webhook events; --failed for those given up")
    deliveries_cli.add_arguments(p)
    p.set_defaults(func=deliveries_cli.main)
    p = sub.add_parser("doctor", help="check a deployment before its first call (read-only)")
    doctor_cli.add_arguments(p)
    p.set_defaults(func=doctor_cli.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
