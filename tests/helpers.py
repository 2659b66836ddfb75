"""What several test files share: the committed real-data samples (see tests/fixtures/make_fixtures.py
for their provenance), where the full shared data lives, and a way to call the admin scripts in-process."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from vadcore.settings import PROJECT_ROOT, get_settings

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FER_SAMPLE = FIXTURES / "fer2013_sample.csv.gz"
VOTES_SAMPLE = FIXTURES / "ferplus_votes_sample.csv"
AUTHORS_SAMPLE = FIXTURES / "vad_authors_sample.csv"
SHARED_DATA = get_settings().data_dir  # VADLENS_DATA_DIR, else ../shared/data
PHOTOS = SHARED_DATA / "photos"
VIDEOS = SHARED_DATA / "videos"
# The passwords of the accounts that page tests create and log in with.
PASSWORDS = {"admin": "admin-password-1", "teacher": "teacher-password-1", "psych": "psych-password-1"}


def sample_data_dir(root: Path) -> Path:
    """The committed samples laid out like ../shared/data, for the training CLI."""
    (root / "fer2013").mkdir(parents=True)
    (root / "vad_seed").mkdir()
    shutil.copy(FER_SAMPLE, root / "fer2013" / "fer2013.csv.gz")
    shutil.copy(VOTES_SAMPLE, root / "fer2013" / "fer2013new.csv")
    shutil.copy(AUTHORS_SAMPLE, root / "vad_seed" / "train.csv")
    return root


def load_script(name: str, *, after: tuple[str, ...] = ()) -> ModuleType:
    """scripts/<name>.py as a module, so a test can call its functions or `main(argv)`.

    The module is registered under its name (dataclasses need that). A script run from the shell imports
    its sibling scripts by name (its folder is on the path); `after` loads those first, so that
    `from make_group_photo import …` finds them here too.
    """
    for sibling in after:
        load_script(sibling)
    spec = importlib.util.spec_from_file_location(name, PROJECT_ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def record_lawful_deployment(service, admin):
    """A deployment record under which analysis may run (an EU clinic, for medical reasons), so that tests that
    save readings are not refused by the AI Act rule (db.deployment); tests of the rule record their own."""
    return service.record_deployment(
        admin, "Test Clinic", "dpo@test-clinic.example", "eu", "healthcare", "medical", protocol_ref=""
    )


def app_log_in(username: str, timeout: float = 900) -> Any:
    """The whole app (main.py) in AppTest, logged in through its form as `username` (password: PASSWORDS);
    `timeout` is per script run, generous because the CPU may be shared."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(PROJECT_ROOT / "main.py"), default_timeout=timeout).run()
    at.text_input(key="login_username").input(username)
    at.text_input(key="login_password").input(PASSWORDS[username])
    at.button(key="FormSubmitter:login-Log in").click().run()
    assert not at.exception, at.exception
    return at


@contextmanager
def pilot_store(directory: Path, class_name: str = "Class 4B") -> Iterator[tuple[str, Any, Any, Any]]:
    """A fresh SQLite store for a browser test: the first admin ("admin", PASSWORDS["admin"]) under a lawful
    deployment record, and one class. Yields (database URL, service, admin, class); closes the engine after."""
    from db import init_db, make_engine
    from db.services import Service

    url = f"sqlite:///{directory / 'e2e.db'}"
    engine = make_engine(url)
    init_db(engine)
    svc = Service(engine)
    admin = svc.create_first_admin("admin", PASSWORDS["admin"], "Ada Admin")
    record_lawful_deployment(svc, admin)
    try:
        yield url, svc, admin, svc.create_group(admin, class_name, "class")
    finally:
        engine.dispose()


class Clock:
    """A clock the test moves forward: it replaces a Service's clock."""

    def __init__(self, service) -> None:
        self.now = service.clock()
        service.clock = lambda: self.now

    def advance(self, **delta: float) -> None:
        from datetime import timedelta

        self.now += timedelta(**delta)


LAUNCHER = "app.py"  # the entry point the README starts: it mounts the session cookie's route


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(database_url: str, log_path: Path) -> Iterator[str]:
    """`streamlit run LAUNCHER` on `database_url`, headless on a free local port: its base address, once healthy."""
    port = free_port()
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", LAUNCHER, "--server.port", str(port)]
        + ["--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start: {log_path.read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
