"""A caller and a Twilio in one command: signed webhooks, a media stream, a faithful playout.

The names below are imported on first use (PEP 562): `bot` imports this package for the
`softphone` command's options, and `bot serve` has no use for the local engine's audio, VAD
and speech modules the call itself needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from bot.softphone.cli import add_arguments, main

if TYPE_CHECKING:
    from bot.localengine.callclock import CallReport
    from bot.softphone.call import Call, Options, run_call
    from bot.softphone.caller import MicrophoneUnavailable
    from bot.softphone.webhooks import parse_connect

_LAZY = {
    "CallReport": "bot.localengine.callclock",
    "Call": "bot.softphone.call",
    "Options": "bot.softphone.call",
    "run_call": "bot.softphone.call",
    "MicrophoneUnavailable": "bot.softphone.caller",
    "parse_connect": "bot.softphone.webhooks",
}

__all__ = [
    "Call",
    "CallReport",
    "MicrophoneUnavailable",
    "Options",
    "add_arguments",
    "main",
    "parse_connect",
    "run_call",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # once imported, a plain attribute
    return value
