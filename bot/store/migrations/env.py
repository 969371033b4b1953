"""Alembic environment: runs on the connection bot.store.migrate puts in config.attributes."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through bot.store.migrate (Store.open), not the alembic CLI")
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
