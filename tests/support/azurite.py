"""Azurite (Azure Storage's emulator, installed by the Makefile under .tools/) started on a free
port with in-memory storage for the recordings' Blob tests, and stopped after."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.server import free_port

AZURITE = Path(__file__).resolve().parents[2] / ".tools" / "node_modules" / ".bin" / "azurite-blob"
# Azurite's documented development account and key (public, the same for everyone).
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def connection_string(port: int) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};")  # fmt: skip


@contextlib.contextmanager
def azurite(tmp: Path) -> Iterator[str]:
    """A running Azurite blob service; yields its connection string."""
    if not AZURITE.exists():
        raise RuntimeError(f"{AZURITE} is missing: run `make test` (it installs Azurite with npm)")
    port = free_port()
    log = (tmp / "azurite.log").open("wb")
    proc = subprocess.Popen(
        [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence",
         "--skipApiVersionCheck", "--loose"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Azurite did not start: {(tmp / 'azurite.log').read_text()}")
            time.sleep(0.1)
        yield connection_string(port)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
