"""A results webhook receiver on 127.0.0.1 (raw HTTP/1.1 over asyncio), answering as scripted,
verifying each signature with the README's snippet (read from README.md, not copied)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.server import free_port

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_verifier() -> Any:
    """The `verify_signature(secret, header, body)` function the README shows receivers."""
    text = README.read_text()
    match = re.search(r"```python\n(# Verifying a results webhook.*?)```", text, re.S)
    assert match, "README.md has no receiver snippet starting '# Verifying a results webhook'"
    namespace: dict[str, Any] = {}
    exec(match[1], namespace)  # the snippet defines verify_signature
    return namespace["verify_signature"]


@dataclass
class Received:
    """One request as the receiver saw it."""

    event_id: str
    signature_ok: bool
    status: int  # what the receiver answered
    event: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class Receiver:
    """POSTs answered with the next scripted status (then 200s); `down()`/`up()` stop and
    restart listening on the same port."""

    def __init__(self, secret: str, script: list[int] | None = None) -> None:
        self.secret = secret
        self.script = list(script or [])
        self.requests: list[Received] = []
        self.verify = readme_verifier()
        self.port = free_port()  # outside the ephemeral range
        self.url = f"http://127.0.0.1:{self.port}/hooks/results"
        self.server: asyncio.Server | None = None

    async def up(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def down(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    def accepted(self) -> list[str]:
        """Event ids answered 2xx with a valid signature."""
        return [r.event_id for r in self.requests if r.signature_ok and r.status < 300]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            lines = head.split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in
                       (line.partition(":") for line in lines[1:] if line)}  # fmt: skip
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            ok = self.verify(self.secret, headers.get("x-interview-signature", ""), body)
            status = self.script.pop(0) if self.script else 200
            event = json.loads(body)
            self.requests.append(
                Received(headers.get("x-interview-event-id", ""), ok, status, event, headers)
            )
            writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n"
                         "Connection: close\r\n\r\n".encode())  # fmt: skip
            await writer.drain()
        writer.close()
