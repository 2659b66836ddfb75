"""Engine and transactions from one setting, `DATABASE_URL` (SQLite file by default).

A transaction either reads (`write=False`: a plain deferred BEGIN on SQLite, so readers never queue behind
writers in WAL mode) or writes (`BEGIN IMMEDIATE` on SQLite: the write lock is taken up front, where a busy
database can be waited for and retried before anything ran). Writes are meant to be short: callers hash
passwords and parse files before they open one. A write that still finds the database locked after the busy
timeout and `BUSY_RETRIES` jittered retries raises `StoreBusy`, whose message the app shows as it is.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from db.errors import StoreBusy
from vadcore.settings import get_settings

logger = logging.getLogger(__name__)

# How long a SQLite writer waits for another writer's lock before the attempt counts as busy.
SQLITE_BUSY_TIMEOUT_MS = 10_000
# Further attempts to take the write lock after a busy timeout, each after a jittered pause.
BUSY_RETRIES = 3
BUSY_BACKOFF_S = 0.2
# The execution option, set on a session's connection before its BEGIN, that says whether it will write.
WRITE_OPTION = "vadlens_write"
# PostgreSQL states that mean "another transaction was in the way; nothing was done": deadlock,
# serialization failure, lock not available.
_PG_RETRYABLE = {"40P01", "40001", "55P03"}


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
    def _on_begin(conn: Connection) -> None:
        # A writer takes the lock up front (IMMEDIATE): a deferred transaction that reads and then writes
        # can fail with "database is locked" at once instead of waiting busy_timeout. A reader begins
        # deferred and, in WAL mode, never waits for a writer. Unmarked connections (scripts, migrations)
        # are treated as writers.
        write = conn.get_execution_options().get(WRITE_OPTION, True)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: values read inside a transaction stay readable after it.
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session], *, write: bool = True) -> Iterator[Session]:
    """One unit of work: commits when the block ends, rolls everything back if it raises.

    `write=False` for a block that only reads. The transaction is begun before the block runs, so a
    database that stays locked raises `StoreBusy` before any of the caller's work; a busy database or a
    PostgreSQL deadlock met later also rolls back and raises `StoreBusy`.
    """
    session = _begin(factory, write)
    try:
        yield session
        session.commit()
    except DBAPIError as exc:
        session.rollback()
        if is_busy(exc):
            logger.warning("transaction rolled back, database busy: %s", exc.orig)
            raise StoreBusy() from exc
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _begin(factory: sessionmaker[Session], write: bool) -> Session:
    """A session whose transaction has begun (BEGIN sent), retried with jittered backoff while busy."""
    for attempt in range(BUSY_RETRIES + 1):
        session = factory()
        try:
            session.connection(execution_options={WRITE_OPTION: write})
            return session
        except DBAPIError as exc:
            session.close()
            if not is_busy(exc):
                raise
            if attempt == BUSY_RETRIES:
                logger.warning("database still busy after %d attempts: %s", attempt + 1, exc.orig)
                raise StoreBusy() from exc
            # Jitter, so that the writers who timed out together do not all come back together.
            time.sleep(BUSY_BACKOFF_S * (2**attempt) * random.uniform(0.5, 1.5))
    raise AssertionError("unreachable")


def is_busy(exc: DBAPIError) -> bool:
    """True for "another transaction was in the way, nothing was done": SQLite's busy or locked database,
    PostgreSQL's deadlock, serialization failure or lock timeout."""
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        code = getattr(orig, "sqlite_errorcode", None)
        return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "database is locked" in str(orig)
    return getattr(orig, "sqlstate", None) in _PG_RETRYABLE


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
