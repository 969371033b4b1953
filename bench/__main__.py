"""`make bench`: run every benchmark and write docs/benchmarks.md with the machine's facts."""

from __future__ import annotations

import datetime as dt
import importlib
import os
import platform
import sys
from pathlib import Path

SECTIONS = ("bench.audio", "bench.bridge")
OUT = Path("docs/benchmarks.md")


def machine() -> str:
    """The facts a reader needs to weigh the figures."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numpy

    return (
        f"- Taken {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {platform.node() or 'unknown'}\n"
        f"- CPU: {cpu}, {os.cpu_count()} logical cores; {platform.machine()}, "
        f"{platform.system()} {platform.release()}\n"
        f"- Python {platform.python_version()}, numpy {numpy.__version__}\n"
    )


def main(argv: list[str]) -> int:
    only = set(argv)
    parts = [
        "# Benchmarks\n",
        "Written by `make bench`. Medians and ratios; this machine is "
        "shared and noisy, so read small differences as noise.\n",
        machine(),
    ]
    for name in SECTIONS:
        if only and name.split(".")[-1] not in only:
            continue
        print(f"bench: running {name} …", file=sys.stderr, flush=True)
        parts.append(importlib.import_module(name).run())
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(parts).rstrip() + "\n")
    print(f"bench: wrote {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
