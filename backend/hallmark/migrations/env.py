"""Alembic environment: runs on the engine Hallmark hands over (never reads a URL of its own)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from hallmark.store.models import Base

engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through hallmark.store.db.migrate(engine)")

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
