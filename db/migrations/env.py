"""Alembic environment: runs on the connection db.init_db hands over, else on DATABASE_URL."""

from __future__ import annotations

from alembic import context

from db.engine import make_engine, migration_connection
from db.models import Base

config = context.config


def _run(connection) -> None:
    # render_as_batch: SQLite can only ALTER tables by copying them; batch mode does that.
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported; run against a database")
if connection is not None:
    _run(connection)
else:
    engine = make_engine()
    with migration_connection(engine) as conn:
        _run(conn)
    engine.dispose()
