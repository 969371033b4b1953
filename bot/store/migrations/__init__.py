"""Alembic migrations for the call log (run programmatically by bot.store.migrate)."""
