"""A process's resident memory, open files and CPU time, from /proc (Linux); stopping one."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """VmRSS of the process in MB (1 MB = 2**20 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def open_fds(pid: int) -> int:
    """How many file descriptors the process holds (sockets, files, pipes)."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def fd_kinds(pid: int) -> dict[str, int]:
    """Open file descriptors by kind: socket, pipe, anon (eventfd, epoll…), file."""
    kinds: dict[str, int] = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:  # closed meanwhile
            continue
        prefix = target.split(":", 1)[0]
        kind = prefix if prefix in ("socket", "pipe", "anon_inode") else "file"
        kind = "anon" if kind == "anon_inode" else kind
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def slope_per_minute(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, value) points, per minute; None under 3 points."""
    if len(points) < 3:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return None
    cov = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return cov / var * 60


async def stop(proc: asyncio.subprocess.Process, timeout_s: float = 15.0) -> None:
    """SIGTERM (the bot drains), then SIGKILL if it has not exited within timeout_s."""
    if proc.returncode is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
