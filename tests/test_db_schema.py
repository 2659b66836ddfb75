"""The schema comes from Alembic, matches the models, and SQLite runs with WAL and foreign keys."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from db import alembic_config, init_db, make_engine
from db.models import Base


def test_init_db_creates_every_table_on_a_fresh_database(engine):
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) | {"alembic_version"} <= tables


def test_init_db_twice_is_harmless(engine):
    init_db(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1


def test_migrations_match_the_models(engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_downgrade_to_base_and_back(engine):
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    init_db(engine)
    assert "face_readings" in inspect(engine).get_table_names()


def test_upgrading_to_video_captures_keeps_the_readings_and_accepts_video(engine):
    """0002 alters `captures` (on SQLite by copying the table): the readings that refer to it survive, and the
    capture source "video" is accepted afterwards, but not an unknown one."""
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    probabilities = ", ".join(["0.0"] * 6) + ", 1.0"
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO groups VALUES (1, 'g', 'class', false, false, '2024-01-01 00:00:00')"))
        conn.execute(text("INSERT INTO sessions VALUES (1, 1, '2024-01-01 00:00:00', '', NULL)"))
        conn.execute(text("INSERT INTO captures VALUES (1, 1, '2024-01-01 00:00:00', 'upload', 'aa', NULL, NULL)"))
        conn.execute(
            text(
                f"INSERT INTO face_readings VALUES (1, 1, NULL, 0, 1, 2, 3, 4, 0.9, 'neutral', {probabilities}, "
                "0.0, 0.0, 0.0, 'm', '')"
            )
        )
    init_db(engine)
    with engine.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM face_readings")).scalar() == 1
        assert conn.execute(text("SELECT frame_time_s, track_id FROM face_readings")).one() == (None, None)
        conn.execute(text("INSERT INTO captures VALUES (2, 1, '2024-01-01 00:00:00', 'video', 'bb', NULL, NULL)"))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text("INSERT INTO captures VALUES (3, 1, '2024-01-01 00:00:00', 'fax', 'cc', NULL, NULL)"))


def test_sqlite_file_uses_wal_and_enforces_foreign_keys(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'x.db'}")  # parent folder is created
    init_db(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()
