"""Settings for tests and a real bot served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette

from bot.config import Settings, load_settings
from bot.http.app import create_app

AUTH_TOKEN = "test-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "0" * 32


# The dialer sleeps between looks for due interviews (DIALER_POLL_S) and between rate-limit
# slots (1 / DIALER_CALLS_PER_SECOND), and stopping the bot waits for that sleep: the defaults
# (1 s each) would add a second to every test's teardown. Tests about either set their own.
QUICK_DIALER = {"DIALER_POLL_S": "0.1", "DIALER_CALLS_PER_SECOND": "20"}


# Ports for the bots tests start come from below the kernel's ephemeral range (32768-60999
# here): a port the kernel hands out (bind to 0) is also what it hands the next outgoing
# connection, and with four workers opening hundreds of loopback sockets one of them took a
# port between a test choosing it and its server binding it ("address already in use").
PORTS = range(20000, 32000)


def free_port() -> int:
    """A port no one is listening on, outside the ephemeral range (tried by binding it)."""
    rng = random.Random()
    for _ in range(200):
        port = rng.choice(PORTS)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


def make_settings(port: int | None = None, tmp: Path | None = None, **env: Any) -> Settings:
    """Settings as a deployment would give them, pointed at 127.0.0.1."""
    port = port or free_port()
    base = {
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "PORT": str(port),
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_PHONE_NUMBER": "+15005550006",
        "VOICE_LIVE_API_KEY": "test-key",
        "LOG_FORMAT": "console",
        "DATA_DIR": str(tmp or Path("data")),
        "RECORDING": "off",  # tests of recording (tests/recording/) turn it on
        **QUICK_DIALER,
    }
    base.update({k: str(v) for k, v in env.items() if v is not None})
    return load_settings({k: v for k, v in base.items() if v != ""})


@contextlib.asynccontextmanager
async def running_app(
    settings: Settings, **app_options: Any
) -> AsyncIterator[tuple[str, Starlette]]:
    """Serve the bot with uvicorn on settings.port; yields its base URL and the app."""
    app = create_app(settings, **app_options)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=settings.port,
        log_config=None,
        ws="websockets-sansio",
        ws_max_size=1024 * 1024,
        ws_ping_interval=None,
        lifespan="on",
        access_log=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started:
                break
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        else:
            raise TimeoutError("uvicorn did not start")
        yield f"http://127.0.0.1:{settings.port}", app
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@contextlib.asynccontextmanager
async def running_bot(settings: Settings) -> AsyncIterator[str]:
    """Serve the bot with uvicorn on settings.port; yields its base URL (http://127.0.0.1:PORT)."""
    async with running_app(settings) as (base, _app):
        yield base


@contextlib.asynccontextmanager
async def bot_process(
    env: dict[str, str], port: int, log_file: Path | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m bot serve` on 127.0.0.1:port, once /healthz answers; killed if still running."""
    with contextlib.ExitStack() as stack:
        out: Any = stack.enter_context(log_file.open("wb")) if log_file else subprocess.DEVNULL
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "serve", "--port", str(port), env=env,
            stdout=out, stderr=out,
        )  # fmt: skip
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                for _ in range(300):
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get("/healthz")).status_code == 200:
                            break
                    await asyncio.sleep(0.05)
                else:
                    raise TimeoutError(f"bot did not start (log: {log_file or 'not kept'})")
            yield proc
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGKILL)
            await proc.wait()


def bot_env(tmp: Path, port: int, voice_live_endpoint: str, **extra: str) -> dict[str, str]:
    """The environment of a `bot serve` subprocess on 127.0.0.1:port (extra overrides)."""
    return {
        **os.environ,
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_PHONE_NUMBER": "+15005550006",
        "VOICE_LIVE_ENDPOINT": voice_live_endpoint,
        "VOICE_LIVE_API_KEY": "test-key",
        "DATA_DIR": str(tmp),
        "DATABASE_URL": f"sqlite:///{tmp}/calls.db",
        "RECORDING": "off",  # tests of recording (tests/recording/) turn it on
        **QUICK_DIALER,
        **extra,
    }
