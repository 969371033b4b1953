"""`make bench`: run every benchmark and write docs/benchmarks.md with the machine's facts."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from bench.machine import machine

SECTIONS = (
    "bench.audio", "bench.bridge", "bench.soak", "bench.console", "bench.greeting",
    "bench.bargein",
)  # fmt: skip
NAMES = tuple(name.split(".")[-1] for name in SECTIONS)
OUT = Path("docs/benchmarks.md")


def splice(document: str, parts: list[str]) -> str:
    """The document with each part's `## ` section replaced (or appended), the rest kept."""
    head, *sections = document.split("\n## ")
    blocks = {("## " + s).split("\n", 1)[0]: "## " + s.rstrip() + "\n" for s in sections}
    for part in parts:
        blocks[part.split("\n", 1)[0]] = part.rstrip() + "\n"
    return "\n".join([head.rstrip() + "\n", *blocks.values()])


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run benchmarks and write docs/benchmarks.md. With section names, run only "
        "those and replace only their sections in the existing file.",
    )
    parser.add_argument("sections", nargs="*", metavar="SECTION",
                        help=f"any of {', '.join(NAMES)} (default: all)")  # fmt: skip
    parser.add_argument("--soak-s", type=float, default=None,
                        help="seconds the soak places calls for (default 180)")  # fmt: skip
    args = parser.parse_args(argv)
    unknown = sorted(set(args.sections) - set(NAMES))
    if unknown:
        parser.error(f"unknown section(s): {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    if args.soak_s is not None and args.soak_s <= 0:
        parser.error("--soak-s: must be positive")
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    only = set(args.sections)
    parts = []
    for name in SECTIONS:
        short = name.split(".")[-1]
        if only and short not in only:
            continue
        print(f"bench: running {name} …", file=sys.stderr, flush=True)
        options = {"seconds": args.soak_s} if short == "soak" and args.soak_s else {}
        parts.append(importlib.import_module(name).run(**options))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    head = "\n".join([
        "# Benchmarks\n",
        "Written by `make bench`. Medians and ratios; this machine is "
        "shared and noisy, so read small differences as noise.\n",
        machine(),
    ])  # fmt: skip
    if OUT.exists():  # sections not run here (and those written by hand) are kept
        document = splice(OUT.read_text(), parts)
        if not only:  # a full run: the machine at the top is this run's
            document = splice(head + "\n## " + document.split("\n## ", 1)[1], [])
        OUT.write_text(document)
    else:
        OUT.write_text("\n".join([head, *parts]).rstrip() + "\n")
    print(f"bench: wrote {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
