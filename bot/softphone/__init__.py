"""A caller and a Twilio in one command: signed webhooks, a media stream, a faithful playout."""

from bot.localengine.callclock import CallReport
from bot.softphone.call import Call, Options, run_call
from bot.softphone.caller import MicrophoneUnavailable
from bot.softphone.cli import add_arguments, main
from bot.softphone.webhooks import parse_connect

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
