"""Sessions and accounts: a log-in ends when the account is disabled or removed, its password changed or reset,
or it sits idle; log-ins are throttled per account name and per client, the same way for names that do not
exist; reads of subject data and of the audit log leave audit rows; a busy database gives a plain message.

Real SQLite files and, where a server answers, PostgreSQL (the `service` fixture); the app is driven with
Streamlit's AppTest on a real SQLite file. The clock the service goes by is moved forward instead of waiting.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from db.errors import InvalidInput, LoginThrottled, SessionEnded, StoreBusy
from db.services import CLIENT_MAX_FAILURES, LOCK_AFTER, Service
from vadcore.settings import PROJECT_ROOT

from helpers import PASSWORDS, Clock

APP = str(PROJECT_ROOT / "main.py")


def actions(service, admin, action: str) -> list[str]:
    log = service.audit_log(admin, limit=1000)
    return list(log.loc[log["action"] == action, "detail"])


# ---------------------------------------------------------------- throttling


def _throttle_message(service, username: str, password: str) -> str:
    with pytest.raises(LoginThrottled) as refused:
        service.authenticate(username, password)
    return str(refused.value)


def test_an_account_is_locked_after_wrong_passwords_and_the_lock_grows(service, admin, teacher):
    clock = Clock(service)
    for _ in range(LOCK_AFTER):
        assert service.authenticate("teacher", "wrong-password-0") is None
    # Locked: even the right password waits, and the message says how long.
    assert _throttle_message(service, "teacher", PASSWORDS["teacher"]) == (
        "Too many failed log-ins; try again in 2 minutes."
    )
    clock.advance(minutes=2, seconds=1)
    assert service.authenticate("teacher", "wrong-password-0") is None  # the 6th wrong one in a row
    assert "try again in 4 minutes" in _throttle_message(service, "teacher", PASSWORDS["teacher"])
    clock.advance(minutes=4, seconds=1)
    user = service.authenticate("teacher", PASSWORDS["teacher"])
    assert user is not None and user.logged_in_at == clock.now
    # A log-in resets the count: four wrong passwords do not lock again.
    for _ in range(LOCK_AFTER - 1):
        assert service.authenticate("teacher", "wrong-password-0") is None
    assert service.authenticate("teacher", PASSWORDS["teacher"]) is not None
    # The failures that set a lock say so in the audit log; the refused attempts write nothing.
    failed = actions(service, admin, "login_failed")
    assert len(failed) == LOCK_AFTER + 1 + LOCK_AFTER - 1
    assert sum("locked_until=" in d for d in failed) == 2


def test_an_unknown_username_is_answered_exactly_like_a_known_one(service, admin, teacher):
    Clock(service)
    known, unknown = [], []
    for name, answers in (("teacher", known), ("nobody-here", unknown)):
        for _ in range(LOCK_AFTER):
            answers.append(service.authenticate(name, "wrong-password-0"))
        answers.append(_throttle_message(service, name, "wrong-password-0"))
    print("known:", known, "unknown:", unknown)
    assert known == unknown == [None] * LOCK_AFTER + ["Too many failed log-ins; try again in 2 minutes."]
    # The audit rows do not tell them apart either.
    failed = [d.replace("nobody-here", "teacher") for d in actions(service, admin, "login_failed")]
    assert failed[:LOCK_AFTER] == failed[LOCK_AFTER:]
    assert len(failed) == 2 * LOCK_AFTER and "locked_until=" in failed[0]


def test_a_client_is_throttled_after_many_failures_whatever_the_names(service, admin, teacher):
    clock = Clock(service)
    for i in range(CLIENT_MAX_FAILURES):  # spread over names, so that no account locks
        assert service.authenticate(f"guess-{i % 4}", "wrong-password-0", client="203.0.113.7") is None
        clock.advance(seconds=10)
    with pytest.raises(LoginThrottled, match="Too many failed log-ins; try again in 7 minutes"):
        service.authenticate("teacher", PASSWORDS["teacher"], client="203.0.113.7")
    # Another client is not held up; the first may try again once its oldest failure is 10 minutes old.
    assert service.authenticate("teacher", PASSWORDS["teacher"], client="198.51.100.2") is not None
    clock.advance(minutes=7)
    assert service.authenticate("teacher", PASSWORDS["teacher"], client="203.0.113.7") is not None


def test_guessing_the_current_password_in_an_open_session_locks_the_account(service, admin, teacher):
    Clock(service)
    me = service.authenticate("teacher", PASSWORDS["teacher"])
    for _ in range(LOCK_AFTER):
        with pytest.raises(InvalidInput, match="current password is wrong"):
            service.change_password(me, "wrong-password-0", "teacher-password-9")
    with pytest.raises(LoginThrottled, match="try again in 2 minutes"):
        service.change_password(me, PASSWORDS["teacher"], "teacher-password-9")
    assert "try again in 2 minutes" in _throttle_message(service, "teacher", PASSWORDS["teacher"])
    assert len(actions(service, admin, "change_password_refused")) == LOCK_AFTER


def test_an_admin_reset_lifts_a_lock(service, admin, teacher):
    Clock(service)
    for _ in range(LOCK_AFTER):
        service.authenticate("teacher", "wrong-password-0")
    service.set_password(admin, teacher.id, "teacher-password-2")
    assert service.authenticate("teacher", "teacher-password-2") is not None


# ---------------------------------------------------------------- sessions end


def test_a_password_reset_or_change_ends_earlier_log_ins(service, admin, teacher):
    clock = Clock(service)
    session_a = service.authenticate("teacher", PASSWORDS["teacher"])
    assert service.check_session(session_a, clock.now).username == "teacher"
    clock.advance(seconds=1)
    service.set_password(admin, teacher.id, "teacher-password-2")
    with pytest.raises(SessionEnded, match="password of this account was changed"):
        service.check_session(session_a, clock.now)
    with pytest.raises(SessionEnded):  # every call, not only the check
        service.list_groups(session_a)

    clock.advance(seconds=1)
    session_b = service.authenticate("teacher", "teacher-password-2")
    session_c = service.authenticate("teacher", "teacher-password-2")
    clock.advance(seconds=1)
    renewed = service.change_password(session_b, "teacher-password-2", "teacher-password-3")
    assert service.list_groups(renewed) == []  # the browser that changed it goes on
    with pytest.raises(SessionEnded):
        service.list_groups(session_c)
    assert actions(service, admin, "session_ended")


def test_a_session_ends_after_the_idle_timeout(service, admin, teacher, monkeypatch):
    clock = Clock(service)
    user = service.authenticate("teacher", PASSWORDS["teacher"])
    clock.advance(minutes=29)
    service.check_session(user, clock.now - timedelta(minutes=29))  # 29 minutes idle: still in
    with pytest.raises(SessionEnded, match="after 30 minutes without activity"):
        service.check_session(user, clock.now - timedelta(minutes=31))
    monkeypatch.setenv("VADLENS_IDLE_MINUTES", "5")
    with pytest.raises(SessionEnded, match="after 5 minutes"):
        service.check_session(user, clock.now - timedelta(minutes=6))


def test_a_removed_account_is_logged_out_not_crashed(service, admin, teacher):
    user = service.authenticate("teacher", PASSWORDS["teacher"])
    with service.engine.begin() as conn:  # no service call deletes accounts; a restore or an operator might
        conn.execute(text("DELETE FROM users WHERE id = :id"), {"id": teacher.id})
    with pytest.raises(SessionEnded, match="disabled or removed"):
        service.check_session(user, None)
    with pytest.raises(SessionEnded, match="disabled or removed"):
        service.list_sessions(user)
    denied = actions(service, admin, "denied")
    assert any(d.startswith("teacher: account 'teacher'") for d in denied)


# ---------------------------------------------------------------- audited reads


def test_reads_of_sessions_outcome_checks_and_the_audit_log_are_audited(service, admin):
    group = service.create_group(admin, "7a", "class")
    service.create_subject(admin, group.id, "S-01", "granted")
    service.create_session(admin, group.id)
    assert len(service.list_sessions(admin, group.id)) == 1
    report = service.import_outcomes(admin, group.id, b"subject_code,period,grade\nS-01,T1,3\n", dry_run=True)
    assert report.dry_run
    first = service.audit_log(admin)
    second = service.audit_log(admin)
    assert list(first["action"][:1]) == ["check_outcomes"]
    assert list(second["action"][:3]) == ["view_audit_log", "check_outcomes", "list_sessions"]
    assert "1 sessions" in second["detail"][2]


# ---------------------------------------------------------------- a busy database


@pytest.fixture
def impatient(monkeypatch):
    """A busy database gives up after 0.1 s and two quick retries."""
    from db import engine

    monkeypatch.setattr(engine, "SQLITE_BUSY_TIMEOUT_MS", 100)
    monkeypatch.setattr(engine, "BUSY_RETRIES", 2)
    monkeypatch.setattr(engine, "BUSY_BACKOFF_S", 0.01)


def _lock_writes(path: str) -> sqlite3.Connection:
    """Another program holding SQLite's write lock (it reads freely meanwhile)."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


def test_passwords_are_hashed_and_checked_outside_the_write_lock(tmp_path, monkeypatch):
    """While Argon2 runs, another program can take SQLite's write lock at once (no wait): the log-in, the new
    account and both password changes hold no lock through the hash."""
    from db import init_db, make_engine, services

    path = tmp_path / "hash.db"
    engine = make_engine(f"sqlite:///{path}")
    init_db(engine)
    service = Service(engine)
    lock_free: list[bool] = []

    def probe(real):
        def wrapped(*args):
            other = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")
                other.rollback()
                lock_free.append(True)
            except sqlite3.OperationalError:
                lock_free.append(False)
            finally:
                other.close()
            return real(*args)

        return wrapped

    monkeypatch.setattr(services, "verify_password", probe(services.verify_password))
    monkeypatch.setattr(services, "hash_password", probe(services.hash_password))
    admin = service.create_first_admin("admin", PASSWORDS["admin"])
    teacher = service.create_user(admin, "teacher", PASSWORDS["teacher"], "teacher")
    service.set_password(admin, teacher.id, "teacher-password-2")
    me = service.authenticate("teacher", "teacher-password-2")
    assert me is not None and service.authenticate("nobody", "whatever-password") is None
    service.change_password(me, "teacher-password-2", "teacher-password-3")
    print("hash or check calls, lock free each time:", lock_free)
    assert len(lock_free) >= 7 and all(lock_free)
    engine.dispose()


def test_a_busy_database_refuses_a_save_plainly_and_reads_go_on(tmp_path, impatient):
    from db import init_db, make_engine

    path = tmp_path / "busy.db"
    engine = make_engine(f"sqlite:///{path}")
    init_db(engine)
    service = Service(engine)
    admin = service.create_first_admin("admin", PASSWORDS["admin"])
    other = _lock_writes(str(path))
    try:
        assert service.needs_first_admin() is False  # a read: no write lock needed
        assert service.list_periods(admin) == []
        with pytest.raises(StoreBusy, match=r"^The database is busy; nothing was saved\. Try again in a moment\.$"):
            service.create_group(admin, "7a", "class")
    finally:
        other.rollback()
        other.close()
    assert [g.name for g in service.list_groups(admin)] == []  # nothing half-written
    service.create_group(admin, "7a", "class")
    engine.dispose()


# ---------------------------------------------------------------- the app


@pytest.fixture
def app_db(tmp_path, app_service):
    svc = app_service
    admin = svc.create_first_admin("admin", PASSWORDS["admin"], "Ada Admin")
    teacher = svc.create_user(admin, "teacher", PASSWORDS["teacher"], "teacher", "Tom Teacher")
    klass = svc.create_group(admin, "Class 4B", "class")
    svc.grant_access(admin, teacher.id, klass.id)
    svc.create_subject(admin, klass.id, "S-01", "granted")
    yield {"svc": svc, "admin": admin, "teacher": teacher, "class": klass, "path": tmp_path / "app.db"}


def _app_login(username: str, password: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=600).run()
    at.text_input(key="login_username").input(username)
    at.text_input(key="login_password").input(password or PASSWORDS[username])
    at.button(key="FormSubmitter:login-Log in").click().run()
    assert not at.exception, at.exception
    return at


def _texts(elements) -> str:
    """The messages as the person reads them (the app escapes Markdown in what users typed)."""
    return "\n".join(str(e.value).replace("\\", "") for e in elements)


def test_an_open_session_is_refused_after_deactivation_reset_and_revoked_grant(app_db):
    svc, admin, teacher, klass = app_db["svc"], app_db["admin"], app_db["teacher"], app_db["class"]

    # (a) deactivated: logged out at the next step, with the reason on the log-in page
    at = _app_login("teacher")
    at.switch_page("pages/subjects.py").run()
    assert not at.exception and at.title[0].value == "Subjects"
    svc.deactivate_user(admin, teacher.id)
    at.switch_page("pages/explorer.py").run()
    assert not at.exception, at.exception
    assert "user" not in at.session_state
    assert at.title[0].value == "VAD Lens"
    assert "You were logged out: account 'teacher' is disabled or removed" in _texts(at.error)

    # (b) password reset by an administrator
    with svc.engine.begin() as conn:
        conn.execute(text("UPDATE users SET is_active = TRUE WHERE id = :id"), {"id": teacher.id})
    at = _app_login("teacher")
    assert at.session_state["user"].username == "teacher"
    svc.set_password(admin, teacher.id, "teacher-password-2")
    at.switch_page("pages/subjects.py").run()
    assert not at.exception, at.exception
    assert "user" not in at.session_state
    assert "password of this account was changed since you logged in" in _texts(at.error)

    # (c) a revoked grant: still logged in, but the class and its subjects are gone from the page
    at = _app_login("teacher", "teacher-password-2")
    at.switch_page("pages/subjects.py").run()
    assert at.selectbox(key="subjects_group").options == ["Class 4B (class)"]
    svc.revoke_access(admin, teacher.id, klass.id)
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["user"].username == "teacher"
    assert "S-01" not in _texts(at.get("arrow_data_frame"))
    assert "No groups yet" in _texts(at.info)


def test_the_app_logs_out_an_idle_session(app_db, monkeypatch):
    monkeypatch.setenv("VADLENS_IDLE_MINUTES", "1")
    at = _app_login("teacher")
    at.session_state["last_seen"] = at.session_state["user"].logged_in_at - timedelta(minutes=2)
    at.switch_page("pages/subjects.py").run()
    assert "user" not in at.session_state
    assert "logged out after 1 minutes without activity" in _texts(at.error)


def test_the_log_in_page_shows_throttling_and_a_busy_database_plainly(app_db, impatient):
    for _ in range(LOCK_AFTER):
        at = _app_login("teacher", "wrong-password-0")
        assert "Wrong username or password" in _texts(at.error)
    at = _app_login("teacher")
    assert "Too many failed log-ins; try again in 2 minutes." in _texts(at.error)
    assert "user" not in at.session_state

    other = _lock_writes(str(app_db["path"]))  # another program writing: the log-in's audit row must wait
    try:
        at = _app_login("admin")
    finally:
        other.rollback()
        other.close()
    assert "The database is busy; nothing was saved. Try again in a moment." in _texts(at.error)
    assert "user" not in at.session_state
    assert _app_login("admin").session_state["user"].username == "admin"
