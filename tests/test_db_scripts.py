"""The command-line scripts: first administrator, and the simulated demo cohort."""

from __future__ import annotations

import io
import sys

from db import init_db, make_engine
from db.services import Service

from helpers import load_script

create_admin = load_script("create_admin")
demo_cohort = load_script("demo_cohort")


def run(module, monkeypatch, stdin: str, *args: str) -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return module.main(list(args))


def test_create_admin_makes_the_first_admin_once(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'fresh' / 'vadlens.db'}"
    args = ("--username", "boss", "--password-stdin", "--database-url", url)
    assert run(create_admin, monkeypatch, "long-password-1\n", *args) == 0
    assert "record the deployment" in capsys.readouterr().out
    assert run(create_admin, monkeypatch, "long-password-2\n", "--username", "other", *args[2:]) == 1
    assert "already exists" in capsys.readouterr().err
    engine = make_engine(url)
    service = Service(engine)
    assert service.authenticate("boss", "long-password-1").role == "admin"
    assert service.authenticate("other", "long-password-2") is None
    engine.dispose()


def test_demo_cohort_loads_a_simulated_group(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'vadlens.db'}"
    engine = make_engine(url)
    init_db(engine)
    service = Service(engine)
    admin = service.create_first_admin("admin", "admin-password-1")
    code = run(
        demo_cohort,
        monkeypatch,
        "admin-password-1\n",
        "--admin",
        "admin",
        "--password-stdin",
        "--subjects",
        "30",
        "--sessions-per-period",
        "3",
        "--database-url",
        url,
        "--no-evaluate",
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "SIMULATED" in out and "Loaded into group" in out
    assert "No deployment is recorded" in out and service.deployment(admin) is None  # a demo records no legal fact
    (group,) = service.list_groups(admin)
    assert group.is_simulated and group.name == "[SIMULATED] Demo class"
    subjects = service.list_subjects(admin, group.id)
    assert len(subjects) == 30 and all(s.is_simulated for s in subjects)
    engine.dispose()


def test_demo_cohort_refuses_a_wrong_password(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'vadlens.db'}"
    engine = make_engine(url)
    init_db(engine)
    Service(engine).create_first_admin("admin", "admin-password-1")
    engine.dispose()
    assert (
        run(demo_cohort, monkeypatch, "wrong-password\n", "--admin", "admin", "--password-stdin", "--database-url", url)
        == 1
    )
