"""VAD Lens storage: engine (engine.py), tables (models.py), passwords (security.py) and the
service layer the app calls (services.py)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from db.engine import database_url, make_engine, migration_connection

ALEMBIC_INI = Path(__file__).resolve().parent / "alembic.ini"


def alembic_config() -> Config:
    return Config(str(ALEMBIC_INI))


def init_db(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (creates it in a fresh database)."""
    cfg = alembic_config()
    with migration_connection(engine) as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


__all__ = ["database_url", "init_db", "make_engine", "alembic_config"]
