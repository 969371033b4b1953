"""The `bot` command line: serve, local-engine, softphone."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.config import ConfigError, Settings, load_settings
from bot.logs import configure

WS_MAX_SIZE = 1024 * 1024  # larger frames close the socket; up to this, the bridge logs and skips


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        print(f"bot: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def serve(args: argparse.Namespace) -> int:
    """Run the service with uvicorn."""
    import uvicorn

    from bot.app import create_app

    settings = _settings()
    configure(settings.log_format, settings.log_level, settings.secrets)
    host = args.host or settings.host
    port = args.port or settings.port
    if args.port and settings.dev_mode and settings.public_url.endswith(f":{settings.port}"):
        settings = load_settings({**_env(), "PORT": str(port)})
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,
        ws="websockets-sansio",
        ws_max_size=WS_MAX_SIZE,
        ws_ping_interval=None,
        lifespan="on",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    return 0


def _env() -> dict[str, str]:
    import os
    from pathlib import Path

    from bot.config import read_dotenv

    return {**read_dotenv(Path(".env")), **os.environ}


def local_engine(args: argparse.Namespace) -> int:
    """Run the offline Voice Live-compatible engine on its own."""
    from bot.localengine import serve_forever

    settings = _settings()
    configure(settings.log_format, settings.log_level, settings.secrets)
    asyncio.run(serve_forever(args.host, args.port))
    return 0


def softphone(args: argparse.Namespace) -> int:
    from bot import softphone as phone

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
    p.set_defaults(func=local_engine)
    try:
        from bot import softphone as phone
    except ImportError:  # pragma: no cover - only while the softphone is being built
        phone = None  # type: ignore[assignment]
    if phone is not None:
        p = sub.add_parser("softphone", help="call the bot as Twilio and a caller would")
        phone.add_arguments(p)
        p.set_defaults(func=softphone)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
