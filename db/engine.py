"""Engine and transactions from one setting, `DATABASE_URL` (SQLite file by default)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
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


@contextmanager
def migration_connection(engine: Engine) -> Iterator[Connection]:
    """A connection in one transaction for schema migrations; commits when the block ends.

    On SQLite, foreign keys are off for the duration: Alembic's batch mode alters a table by copying it,
    dropping the original and renaming the copy, and with foreign keys on, that drop would run the
    ON DELETE CASCADE of every table referring to it (altering `captures` would delete every reading).
    `PRAGMA foreign_key_check` must come back empty before the transaction commits.
    """
    with engine.connect() as connection:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:  # outside any transaction, where SQLite ignores the pragma
            _pragma(connection, "PRAGMA foreign_keys = OFF")
        try:
            with connection.begin():
                yield connection
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise RuntimeError(f"the migration left rows with broken foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                _pragma(connection, "PRAGMA foreign_keys = ON")


def _pragma(connection: Connection, statement: str) -> None:
    """Run a pragma on the DBAPI connection itself: no transaction is begun for it."""
    cursor = connection.connection.cursor()
    try:
        cursor.execute(statement)
    finally:
        cursor.close()
