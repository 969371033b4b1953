"""`bot serve` starts without what it only needs later (README, "Memory at start")."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bot.store import Store, database_url
from tests.support.server import ACCOUNT_SID, AUTH_TOKEN, bot_env, free_port

# Each is imported on first use only: Alembic when the database needs migrating, Twilio's REST
# client (and requests) at the first REST request, Jinja2 at the first console page, httpx with
# a results webhook (or `bot doctor`), the local engine's VAD with VOICE_LIVE_ENDPOINT=local.
LAZY = ("alembic", "twilio.rest", "requests", "jinja2", "httpx", "webrtcvad")

# `python -m bot serve` with an exit hook printing which of LAZY it imported meanwhile.
SERVE_AND_REPORT = """
import atexit, json, runpy, sys
lazy = json.loads(sys.argv[1])
atexit.register(lambda: print(json.dumps(sorted(m for m in lazy if m in sys.modules))))
sys.argv = ["bot", "serve", "--port", sys.argv[2]]
runpy.run_module("bot", run_name="__main__")
"""


def _serve(tmp: Path) -> list[str]:
    """Start `bot serve` (dialer configured, no webhook), wait for /healthz, stop it (SIGTERM
    drains); which of LAZY it imported."""
    port = free_port()
    env = bot_env(tmp, port, "https://voicelive.invalid")
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE_AND_REPORT, json.dumps(LAZY), str(port)],
        env=env, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        for _ in range(600):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                assert proc.poll() is None, "bot serve exited at start"
                time.sleep(0.05)
        else:
            raise TimeoutError("bot serve did not answer /healthz")
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    return json.loads(out.strip().splitlines()[-1])


async def test_serve_starts_without_lazy_imports(tmp_path: Path) -> None:
    store = await Store.open(database_url(f"sqlite:///{tmp_path}/calls.db", tmp_path))
    await store.close()  # at head: the start reads alembic_version and migrates nothing
    assert _serve(tmp_path) == []


def test_twilio_rest_imported_at_first_request() -> None:
    script = (
        "import sys; from bot.twilio.rest import TwilioRest\n"
        f"rest = TwilioRest({ACCOUNT_SID!r}, {AUTH_TOKEN!r}, 'http://127.0.0.1:9', 1.0)\n"
        "before = 'twilio.rest' in sys.modules or 'requests' in sys.modules\n"
        "client = rest._client\n"
        "print(before, 'twilio.rest' in sys.modules, client.api.base_url, client is rest._client)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=True)  # fmt: skip
    assert done.stdout.split() == ["False", "True", "http://127.0.0.1:9", "True"]
