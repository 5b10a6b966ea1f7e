"""Alembic's entry point: runs the migrations on the connection `migrations.upgrade` hands over."""

from __future__ import annotations

from alembic import context

from chatkit.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the store's migrations through chatkit.store.migrations.upgrade(conn)")
# The caller's transaction is the migration's: alembic sees it open and adds none of its own.
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
