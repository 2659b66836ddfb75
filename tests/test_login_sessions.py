"""The server-side record behind the session cookie: created at log-in, checked at every step and on every
reload, ended at log-out, expiry and revocation (account disabled, password reset or changed); the database
holds only digests of the token and of the one-time code, never either.

Real SQLite files and, where a server answers, PostgreSQL (the `service` fixture). The clock the service goes
by is moved forward instead of waiting.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from db.errors import SessionEnded
from db.models import LoginSession
from db.services import LAST_SEEN_STEP, LOGIN_HANDOFF_TTL, LOGIN_LIFETIME, LOGIN_RECORDS_KEPT, Service
from db.session_tokens import digest
from db.views import UserInfo

from helpers import PASSWORDS, Clock

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Chrome/131"


def _log_in(service: Service, username: str = "teacher", password: str | None = None) -> tuple[UserInfo, int, str]:
    """What the app does at log-in: authenticate, open the record, trade the code for the cookie's token."""
    user = service.authenticate(username, password or PASSWORDS[username])
    assert user is not None
    ticket = service.open_login_session(user, BROWSER)
    token = service.issue_session_token(ticket.code)
    assert token is not None
    return user, ticket.session_id, token


def _record(service: Service, session_id: int) -> LoginSession:
    with service._sessions() as s:
        row = s.get(LoginSession, session_id)
        assert row is not None
        s.expunge(row)
        return row


def _actions(service, admin, action: str) -> list[str]:
    log = service.audit_log(admin, limit=1000)
    return list(log.loc[log["action"] == action, "detail"])


def test_the_database_keeps_digests_only_and_the_code_trades_once(service, admin, teacher):
    user = service.authenticate("teacher", PASSWORDS["teacher"])
    ticket = service.open_login_session(user, BROWSER)
    token = service.issue_session_token(ticket.code)
    assert token is not None and token != ticket.code and len(token) >= 43  # 256 random bits
    assert service.issue_session_token(ticket.code) is None  # a one-time code

    row = _record(service, ticket.session_id)
    assert row.token_hash == digest(token) and row.handoff_hash is None
    assert row.user_agent_hash == digest(BROWSER)
    with service.engine.connect() as conn:
        stored = " ".join(str(v) for r in conn.execute(select(LoginSession.__table__)) for v in r)
    assert token not in stored and ticket.code not in stored and BROWSER not in stored
    assert row.expires_at == user.logged_in_at + LOGIN_LIFETIME


def test_a_cookie_resumes_its_log_in_and_a_forged_or_foreign_one_does_not(service, admin, teacher):
    user, session_id, token = _log_in(service)
    resumed = service.resume_login_session(token, BROWSER)
    assert resumed is not None
    again, resumed_id = resumed
    assert (again.username, again.logged_in_at, resumed_id) == ("teacher", user.logged_in_at, session_id)
    assert _actions(service, admin, "session_resumed") == [f"login_session={session_id}"]

    assert service.resume_login_session(token[:-2] + "xx", BROWSER) is None
    assert service.resume_login_session("", BROWSER) is None
    # The same cookie from another browser is treated as stolen: the log-in ends.
    assert service.resume_login_session(token, "curl/8.5") is None
    assert _record(service, session_id).end_reason == "other browser"
    assert service.resume_login_session(token, BROWSER) is None


def test_a_late_code_gives_no_cookie(service, admin, teacher):
    clock = Clock(service)
    user = service.authenticate("teacher", PASSWORDS["teacher"])
    ticket = service.open_login_session(user)
    clock.advance(seconds=LOGIN_HANDOFF_TTL.total_seconds() + 1)
    assert service.issue_session_token(ticket.code) is None


def test_log_out_ends_the_record_and_its_cookie(service, admin, teacher):
    user, session_id, token = _log_in(service)
    service.end_login_session(user, session_id)
    row = _record(service, session_id)
    assert row.ended_at is not None and row.end_reason == "logout"
    assert service.resume_login_session(token, BROWSER) is None
    with pytest.raises(SessionEnded, match="this log-in was ended"):
        service.check_session(user, login_session_id=session_id)
    assert _actions(service, admin, "logout") == [f"login_session={session_id}"]


def test_a_log_in_expires_after_its_lifetime_even_when_busy(service, admin, teacher, monkeypatch):
    monkeypatch.setenv("VADLENS_IDLE_MINUTES", str(24 * 60))
    clock = Clock(service)
    user, session_id, token = _log_in(service)
    clock.advance(seconds=LOGIN_LIFETIME.total_seconds() - 60)
    assert service.check_session(user, clock.now, session_id).username == "teacher"
    clock.advance(seconds=61)
    with pytest.raises(SessionEnded, match="at most 12 hours"):
        service.resume_login_session(token, BROWSER)
    assert _record(service, session_id).ended_at == clock.now
    assert service.resume_login_session(token, BROWSER) is None  # ended: nothing more to audit
    assert len(_actions(service, admin, "session_ended")) == 1


def test_an_idle_cookie_is_refused_and_steps_keep_it_alive(service, admin, teacher, monkeypatch):
    monkeypatch.setenv("VADLENS_IDLE_MINUTES", "30")
    clock = Clock(service)
    user, session_id, token = _log_in(service)
    for _ in range(3):  # a step every 20 minutes: the record's last step moves with them
        clock.advance(minutes=20)
        service.check_session(user, clock.now - timedelta(minutes=20), session_id)
    assert _record(service, session_id).last_seen_at == clock.now
    clock.advance(seconds=LAST_SEEN_STEP.total_seconds() / 2)
    service.check_session(user, None, session_id)
    assert _record(service, session_id).last_seen_at < clock.now  # not written at every click
    clock.advance(minutes=31)
    with pytest.raises(SessionEnded, match="30 minutes without activity"):
        service.resume_login_session(token, BROWSER)
    assert _record(service, session_id).end_reason == "ended"


@pytest.mark.parametrize("revoke", ["disable", "reset", "change"])
def test_disabling_or_a_new_password_ends_every_log_in_of_the_account(service, admin, teacher, revoke):
    first, first_id, first_token = _log_in(service)
    second, second_id, second_token = _log_in(service)
    other_admin, admin_session, admin_token = _log_in(service, "admin")
    if revoke == "disable":
        service.deactivate_user(admin, teacher.id)
    elif revoke == "reset":
        service.set_password(admin, teacher.id, "teacher-password-2")
    else:
        renewed = service.change_password(first, PASSWORDS["teacher"], "teacher-password-2")
        ticket = service.open_login_session(renewed, BROWSER)  # what the My account page does next
        new_token = service.issue_session_token(ticket.code)
        assert new_token is not None and service.resume_login_session(new_token, BROWSER) is not None
    for session_id, token in ((first_id, first_token), (second_id, second_token)):
        assert _record(service, session_id).ended_at is not None
        assert service.resume_login_session(token, BROWSER) is None
    assert service.resume_login_session(admin_token, BROWSER) is not None  # other accounts keep theirs
    log = service.audit_log(admin, limit=1000)
    action = {"disable": "deactivate_user", "reset": "set_password", "change": "change_password"}[revoke]
    assert list(log.loc[log["action"] == action, "detail"]) == ["sessions_ended=2"]


def test_records_ended_or_expired_over_30_days_ago_go_at_the_next_log_in_audited(service, admin, teacher):
    clock = Clock(service)
    user, logged_out, _ = _log_in(service)
    service.end_login_session(user, logged_out)
    _, expired, _ = _log_in(service, "admin")  # never ended: it expires after LOGIN_LIFETIME
    clock.advance(days=LOGIN_RECORDS_KEPT.days, seconds=-60)
    _, recent, _ = _log_in(service)  # both are not yet LOGIN_RECORDS_KEPT past their end or expiry: kept
    service.end_login_session(user, recent)
    assert _record(service, logged_out) and _record(service, expired)
    clock.advance(seconds=120)  # the log-out now lies 30 days back; the expiry, 12 hours later, not yet
    _, current, _ = _log_in(service)
    with service._sessions() as s:
        assert s.scalars(select(LoginSession.id).order_by(LoginSession.id)).all() == [expired, recent, current]
    clock.advance(seconds=LOGIN_LIFETIME.total_seconds())
    _log_in(service)
    with service._sessions() as s:
        assert expired not in s.scalars(select(LoginSession.id)).all()
    assert _actions(service, admin, "purge_login_sessions") == [
        "login_sessions=1 older_than_days=30",
        "login_sessions=1 older_than_days=30",
    ]


def test_a_removed_account_takes_its_records_with_it(service, admin, teacher):
    _log_in(service)
    with service.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM users WHERE username = 'teacher'")
    with service._sessions() as s:
        assert s.scalars(select(LoginSession.user_id)).all() == []


# ---------------------------------------------------------------- the app (AppTest on a real SQLite file)


def test_the_app_records_the_log_in_hands_the_cookie_over_and_ends_it_at_log_out(app_service):
    from streamlit.testing.v1 import AppTest

    from vadcore.settings import PROJECT_ROOT

    admin = app_service.create_first_admin("admin", PASSWORDS["admin"], "Ada Admin")
    at = AppTest.from_file(str(PROJECT_ROOT / "main.py"), default_timeout=600).run()
    at.text_input(key="login_username").input("admin")
    at.text_input(key="login_password").input(PASSWORDS["admin"])
    at.button(key="FormSubmitter:login-Log in").click().run()
    assert not at.exception, at.exception
    session_id = at.session_state["login_session"]
    # The page drew the hand-off (a script posting the one-time code); the code is spent only by the route.
    handoff = [h for h in at.get("html") if "/api/session" in h.proto.body]
    assert len(handoff) == 1 and '"method": "POST"' in handoff[0].proto.body
    assert _record(app_service, session_id).handoff_hash is not None

    at.button(key="logout").click().run()
    assert not at.exception, at.exception
    assert "user" not in at.session_state
    assert _record(app_service, session_id).end_reason == "logout"
    assert _actions(app_service, admin, "logout") == [f"login_session={session_id}"]
