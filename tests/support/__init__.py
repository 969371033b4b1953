"""Test helpers (not tests): settings and a served bot (server), bridge calls, interview
profiles, a cuttable PostgreSQL proxy, replicas and scheduling. The served-bot helpers are
re-exported here, so `from tests.support import make_settings` reads as before."""

from tests.support.server import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    bot_env,
    bot_process,
    free_port,
    make_settings,
    running_app,
    running_bot,
)

__all__ = [
    "ACCOUNT_SID",
    "AUTH_TOKEN",
    "bot_env",
    "bot_process",
    "free_port",
    "make_settings",
    "running_app",
    "running_bot",
]
