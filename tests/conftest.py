"""Shared fixtures. The database fixtures run each test on a real SQLite file and, where a server
answers at VADLENS_TEST_POSTGRES_URL, on PostgreSQL too (each test in a schema of its own)."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from helpers import PASSWORDS, PHOTOS, VIDEOS, record_lawful_deployment

POSTGRES_URL = os.environ.get(
    "VADLENS_TEST_POSTGRES_URL", "postgresql+psycopg://vadlens:vadlens@localhost:5432/vadlens_test"
)


@pytest.fixture(scope="session")
def photos() -> Path:
    """The nine real sample photos (../shared/data/photos); the test skips where they are absent."""
    if not (PHOTOS / "obama_and_biden.jpg").is_file():
        pytest.skip(f"needs the sample photos in {PHOTOS} (../shared/data is absent; see VADLENS_DATA_DIR)")
    return PHOTOS


@pytest.fixture(scope="session")
def videos() -> Path:
    """The three real clips (../shared/data/videos); the test skips where they are absent."""
    if not (VIDEOS / "WolfgangLanger_Pexels.mp4").is_file():
        pytest.skip(f"needs the sample videos in {VIDEOS} (../shared/data is absent; see VADLENS_DATA_DIR)")
    return VIDEOS


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing():
    """Argon2's test profile: the default costs seconds per hash on a loaded 2-core machine.
    test_db_access checks the default parameters separately."""
    from argon2 import profiles

    from db import security

    security.use_parameters(profiles.CHEAPEST)
    yield
    security.use_parameters(profiles.get_default_parameters())


@dataclass(frozen=True)
class Database:
    """Where a test's database lives; picklable, so child processes can open it too."""

    url: str
    connect_args: dict = field(default_factory=dict)

    def engine(self):
        from db import make_engine

        return make_engine(self.url, connect_args=self.connect_args)


# The PostgreSQL variant of every database test runs in the full run (CI), not in the fast set: the same code on
# a second server doubles the fast set's time and rarely fails where SQLite passes.
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def database(request, tmp_path):
    if request.param == "sqlite":
        yield Database(f"sqlite:///{tmp_path / 'vadlens.db'}")
        return
    from sqlalchemy import create_engine, text

    admin_engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    schema = f"test_{uuid.uuid4().hex[:12]}"
    try:
        with admin_engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # any failure to reach the server means: no PostgreSQL here
        admin_engine.dispose()
        pytest.skip(
            f"PostgreSQL not reachable at {POSTGRES_URL} ({type(exc).__name__}); "
            "set VADLENS_TEST_POSTGRES_URL or run .ci/services.sh"
        )
    yield Database(POSTGRES_URL, {"options": f"-csearch_path={schema}"})
    with admin_engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin_engine.dispose()


@pytest.fixture
def engine(database):
    from db import init_db

    engine = database.engine()
    init_db(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def service(engine):
    from db.services import Service

    return Service(engine)


@pytest.fixture
def admin(service):
    """The first administrator, with a lawful deployment recorded (else every save would be refused)."""
    user = service.create_first_admin("admin", "admin-password-1")
    record_lawful_deployment(service, user)
    return user


@pytest.fixture
def teacher(service, admin):
    """A teacher account (no group yet)."""
    return service.create_user(admin, "teacher", PASSWORDS["teacher"], "teacher", "Tom Teacher")


@pytest.fixture
def make_reading():
    """A valid FaceReading; keyword arguments override its fields."""
    from vadcore.readings import FaceReading
    from vadcore.taxonomy import CLASS_NAMES

    def make(label: str = "happy", valence: float = 0.5, arousal: float = 0.2, dominance: float = 0.1, **kw):
        probs = {c: (0.4 if c == label else 0.1) for c in CLASS_NAMES}
        return FaceReading(
            label=label,
            probabilities=probs,
            valence=valence,
            arousal=arousal,
            dominance=dominance,
            model_version="test-1",
            box=(1, 2, 30, 40),
            **kw,
        )

    return make


@pytest.fixture
def downloads(monkeypatch):
    """What the app's download buttons hand to Streamlit's media store, by file name (AppTest keeps the store in
    a mock runtime that is gone after the run)."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
    from streamlit.testing.v1 import app_test

    files: dict[str, bytes] = {}

    class Recording(MemoryMediaFileStorage):
        def load_and_get_id(self, path_or_data, mimetype, kind, filename=None):
            file_id = super().load_and_get_id(path_or_data, mimetype, kind, filename)
            if filename:
                files[filename] = self.get_file(file_id).content
            return file_id

    monkeypatch.setattr(app_test, "MemoryMediaFileStorage", Recording)
    return files


@pytest.fixture
def app_service(tmp_path, monkeypatch):
    """A service on the database the app itself opens (DATABASE_URL points at a fresh SQLite file): what a page
    test seeds before it drives the app with AppTest."""
    from db import init_db, make_engine
    from db.services import Service

    url = f"sqlite:///{tmp_path / 'app.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    engine = make_engine(url)
    init_db(engine)
    yield Service(engine)
    engine.dispose()
