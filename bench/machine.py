"""The facts about the machine a reader needs to weigh benchmark figures."""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path


def machine() -> str:
    """When, where, which CPU and Python: a Markdown list."""
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
