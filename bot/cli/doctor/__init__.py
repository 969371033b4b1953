"""`bot doctor`: a read-only preflight of a real deployment (settings to a first response)."""

from bot.cli.doctor.cli import add_arguments, main

__all__ = ["add_arguments", "main"]
