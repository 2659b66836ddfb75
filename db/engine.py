"""Engine and transactions from one setting, `DATABASE_URL` (SQLite file by default)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from vadcore.settings import get_settings

# How long a SQLite writer waits for another writer's lock before giving up.
SQLITE_BUSY_TIMEOUT_MS = 30_000


def database_url() -> str:
    """The configured database (`DATABASE_URL`; default: var/vadlens.db in the project, see vadcore.settings)."""
    return get_settings().database_url


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and write-serialising transactions.

    Extra keyword arguments go to `sqlalchemy.create_engine` (e.g. `connect_args`).
    """
    url_obj = make_url(url or database_url())
    if url_obj.get_backend_name() != "sqlite":
        return create_engine(url_obj, pool_pre_ping=True, **kwargs)

    if url_obj.database and url_obj.database != ":memory:":
        Path(url_obj.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url_obj, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        # Take transaction control away from the sqlite3 module so that "begin" below is the
        # only BEGIN issued.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA synchronous = NORMAL")  # safe with WAL; fsync at checkpoints
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        # IMMEDIATE takes the write lock up front: a deferred transaction that reads and then
        # writes can fail with "database is locked" at once instead of waiting busy_timeout.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: values read inside a transaction stay readable after it.
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commits when the block ends, rolls everything back if it raises."""
    with factory() as session, session.begin():
        yield session
