"""Offline Voice Live-compatible engine: a scripted interviewer with local speech and VAD."""

from bot.localengine.server import LocalEngine, serve_forever

__all__ = ["LocalEngine", "serve_forever"]
