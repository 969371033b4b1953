"""The record journal: a call's unwritten record saved under DATA_DIR, replayed once the
database answers (by a background task of `bot serve`, and at start-up)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog

from bot.observability.metrics import Metrics
from bot.store.record_writes import Backoff, BadWrite, Write, apply, unavailable
from bot.timeouts import within

log = structlog.get_logger(__name__)

JOURNAL_DIR = "journal"  # under DATA_DIR
IDLE_S = 2.0  # how often an idle replayer looks for journal files
RETRY_FIRST_S, RETRY_CAP_S = 0.5, 5.0  # while the database is still down


class Journal:
    """`<dir>/<call_sid>.jsonl`: one write per line ({"op", "call_sid", "fields"}), in order."""

    def __init__(self, directory: Path, metrics: Metrics | None = None) -> None:
        self.directory = directory
        self.metrics = metrics or Metrics()
        self.wake = asyncio.Event()  # set when a call is journaled: try it soon

    def files(self) -> list[Path]:
        """Journal files waiting to be replayed, oldest first."""
        if not self.directory.is_dir():
            return []
        found = [p for p in self.directory.glob("*.jsonl") if p.is_file()]
        return sorted(found, key=lambda p: (p.stat().st_mtime_ns, p.name))

    def save(self, call_sid: str, writes: Sequence[Write]) -> Path:
        """Write a call's pending writes atomically (temp file, fsync, rename; mode 0600)."""
        return self._saved(call_sid, writes, self._write_file(call_sid, writes))

    async def asave(self, call_sid: str, writes: Sequence[Write]) -> Path:
        """As save, the file written off the event loop (fsync can take a while)."""
        path = await asyncio.to_thread(self._write_file, call_sid, writes)
        return self._saved(call_sid, writes, path)

    def _saved(self, call_sid: str, writes: Sequence[Write], path: Path) -> Path:
        self.metrics.record_journaled.inc(len(writes))
        self.wake.set()
        log.warning("record.journaled", call_sid=call_sid, path=str(path), writes=len(writes))
        return path

    def _write_file(self, call_sid: str, writes: Sequence[Write]) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        safe = "".join(c for c in call_sid if c.isalnum() or c in "-_")[:64] or "call"
        path = self.directory / f"{safe}.jsonl"
        if path.exists():  # a second end of the same call: keep both, in order
            path = self.directory / f"{safe}.{time.time_ns()}.jsonl"
        temp = self.directory / f".{path.name}.tmp"
        body = "".join(json.dumps(w.to_json(), separators=(",", ":")) + "\n" for w in writes)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, body.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
        with contextlib.suppress(OSError):  # the rename itself survives a power cut
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        return path

    def read(self, path: Path) -> list[Write]:
        """The writes of one journal file; BadWrite if any line is not one."""
        writes = []
        with path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    writes.append(Write.from_json(json.loads(line)))
                except (ValueError, BadWrite) as exc:
                    raise BadWrite(f"line {number}: {exc}") from None
        return writes

    def _remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def _set_aside(self, path: Path, why: str) -> None:
        bad = path.with_name(path.name + ".bad")
        with contextlib.suppress(OSError):
            os.replace(path, bad)
        log.error("record.journal_bad", path=str(path), moved_to=str(bad), error=why)

    async def replay_file(self, store: Any, path: Path) -> bool:
        """Write one file's record; False while the database is still down (file kept).
        A file that cannot be read, or a write the store rejects, is moved aside (.bad)."""
        try:
            writes = self.read(path)
        except (OSError, UnicodeDecodeError, BadWrite) as exc:
            self._set_aside(path, f"{type(exc).__name__}: {exc}")
            return True
        rejected: list[str] = []
        for write in writes:
            try:
                await apply(store, write)
            except Exception as exc:
                if unavailable(exc):
                    log.debug("record.journal_waiting", path=str(path), error=type(exc).__name__)
                    return False
                rejected.append(f"{write.op}: {type(exc).__name__}: {exc}")
        if rejected:  # written as far as possible; kept for a human, never retried forever
            self._set_aside(path, "; ".join(rejected[:5]))
            return True
        self._remove(path)
        sid = writes[0].call_sid if writes else None
        log.info("record.journal_replayed", call_sid=sid, path=str(path), writes=len(writes))
        return True

    async def replay(self, store: Any) -> bool:
        """Replay every file, oldest first; False if the database is down (stops there)."""
        for path in self.files():
            if not await self.replay_file(store, path):
                return False
        return True

    async def run(self, store: Any) -> None:
        """Replay now (start-up) and whenever a call is journaled; back off while down."""
        backoff = Backoff(RETRY_FIRST_S, RETRY_CAP_S)
        while True:
            self.wake.clear()
            try:
                done = await self.replay(store)
                self.metrics.record_journal_files.set(len(self.files()))
            except Exception as exc:  # never let the replayer die (e.g. DATA_DIR unreadable)
                log.error("record.journal_replay_failed", error=f"{type(exc).__name__}: {exc}")
                done = False
            if not done:  # still down: back off (a newly journaled call can wait too)
                await asyncio.sleep(backoff.next())
                continue
            backoff.reset()
            with contextlib.suppress(TimeoutError):
                await within(self.wake.wait(), IDLE_S)
