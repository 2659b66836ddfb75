"""Small helpers the Streamlit pages share: cached handles, the logged-in user, pickers.

Nothing here decides anything about data: reads and writes go through `db.services.Service`
(which checks roles and group access) and analysis through `vadcore`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta, tzinfo
from functools import cache
from typing import TYPE_CHECKING, TypeVar

import streamlit as st

from db import database_url, init_db, make_engine
from db.errors import AccountDisabled, InvalidInput, LoginThrottled, NotFound, PermissionDenied, StoreBusy
from db.views import GroupInfo, ModelVersionInfo, SessionInfo, UserInfo
from ui import local_time, session_cookie
from ui.registry import ROLE_PAGES as ROLE_PAGES  # pages and tests read `ui.ROLE_PAGES`
from ui.text import plain as plain  # pages escape user-typed text with `ui.plain` before Markdown
from vadcore.images import ImageError
from vadcore.settings import SHIPPED_CHECKPOINT

# The service (SQLAlchemy), the outcome study (SciPy), the model (torch) and the detector are imported
# where they are first needed: `import ui.figures` runs this file, and a page that only draws must not
# pay for (or depend on) them.
if TYPE_CHECKING:
    from db.services import Service
    from vadcore.detect import FaceDetector
    from vadcore.inference import EmotionPredictor

logger = logging.getLogger(__name__)
USER_KEY = "user"
LAST_SEEN_KEY = "last_seen"  # the moment of this browser session's last step, for the idle timeout
LOGOUT_REASON_KEY = "logout_reason"  # why the app logged the session out, shown on the log-in page
LOGIN_SESSION_KEY = "login_session"  # the id of the log-in's server-side record (Service.open_login_session)
# What the browser's session cookie needs: ("hand_off", code, until) or ("clear", "", until). Drawn at every run
# until then: the run right after a log-in is often cut short (a switch to the first page), and the script in the
# page runs once where it stays drawn.
COOKIE_KEY = "session_cookie"
COOKIE_DRAWN_FOR = timedelta(minutes=1)
COOKIE_DISMISSED_KEY = "cookie_dismissed"  # the cookie sent at connection was used up: never resume from it again


@cache
def user_errors() -> tuple[type[Exception], ...]:
    """Errors whose message is written for the person using the app (looked up when a call has failed, so
    that importing `ui` does not load the outcome engine)."""
    from vadcore.outcomes import MixedDataError, OutcomeCSVError

    return (
        PermissionDenied,
        NotFound,
        InvalidInput,
        MixedDataError,
        OutcomeCSVError,
        ImageError,
        StoreBusy,
        LoginThrottled,
    )


T = TypeVar("T")


def _close(svc: Service) -> None:
    svc.engine.dispose()


# One open database per server process: when the URL changes, the previous engine is released and its
# connections closed (on_release), so no file stays open behind it.
@st.cache_resource(show_spinner="Opening the database…", max_entries=1, on_release=_close)
def _service(url: str) -> Service:
    from db.services import Service

    engine = make_engine(url)
    init_db(engine)
    svc = Service(engine)
    try:
        svc.purge_expired()  # each group's retention policy, enforced at every start (and on Admin)
    except StoreBusy:
        # The app still opens; the next start or an administrator's "Purge now" catches up.
        logger.warning("retention purge skipped at start: the database was busy")
    return svc


def service() -> Service:
    """The service for `DATABASE_URL` (one engine per URL for the whole server process)."""
    return _service(database_url())


class ModelFileChanged(RuntimeError):
    """The active model's file no longer holds the bytes that were checked."""


# Keyed by the checked file's sha256: an activation takes effect at the next run of a page, and bytes that
# changed after their check are never served. Two entries: the active model and the one before it.
@st.cache_resource(show_spinner="Loading the emotion model…", max_entries=2)
def _predictor(path: str, sha256: str, version: str) -> EmotionPredictor:
    from vadcore.data import file_sha256
    from vadcore.inference import EmotionPredictor

    if file_sha256(path) != sha256:
        raise ModelFileChanged(
            f"the file of the active model ({path}) changed after it was checked; an administrator must activate "
            "a checked model (Admin, Model; the shipped and the configured file are registered automatically)"
        )
    predictor = EmotionPredictor(path)
    if version:  # readings and pages name the registered version (the file's own, with its sha256 prefix)
        predictor.meta["model_version"] = version
    return predictor


def active_model() -> ModelVersionInfo | None:
    """The registered model the app serves (`Service.active_model`; registers the configured and the shipped
    checkpoint the first time, checked), or None when the registry holds none that passed or cannot be read."""
    try:
        return service().active_model()
    except Exception:  # a registry that cannot be read must not stop analysis on the shipped model
        logger.exception("the model registry could not be read; using the shipped model")
        return None


def model_errors() -> tuple[type[Exception], ...]:
    """Why a registered model could not be loaded: its file changed, went missing or is no checkpoint."""
    from vadcore.checkpoint import CheckpointError

    return (ModelFileChanged, OSError, CheckpointError)


def load_model(active: ModelVersionInfo | None) -> EmotionPredictor:
    """The predictor of a registered model, or of the shipped checkpoint for None; raises `model_errors()`."""
    if active is None:
        from vadcore.data import file_sha256

        return _predictor(str(SHIPPED_CHECKPOINT), file_sha256(SHIPPED_CHECKPOINT), "")
    return _predictor(active.path, active.sha256, active.version)


def predictor() -> EmotionPredictor:
    """The active registered model (Admin, Model), or the shipped one when the registry holds none or cannot be
    read. A page whose active model's file changed after its check stops with a message."""
    active = active_model()
    try:
        return load_model(active)
    except model_errors() as exc:
        logger.error("model %s not served: %s", active.version if active else "shipped", exc)
        st.error(plain(exc))
        st.stop()


@st.cache_resource
def detector() -> FaceDetector:
    from vadcore.detect import FaceDetector

    return FaceDetector()


# ------------------------------------------------------------------ the logged-in user


def current_user() -> UserInfo | None:
    return st.session_state.get(USER_KEY)


def session_user() -> UserInfo | None:
    """The logged-in user once the server has confirmed, at this step, that the log-in still counts (account
    active and present, password unchanged since, not idle longer than VADLENS_IDLE_MINUTES); otherwise
    None, with the browser session logged out and the reason kept for the log-in page."""
    user = current_user()
    svc = service()
    try:
        if user is None:
            user = _resumed(svc)
            if user is None:
                return None
        else:
            user = svc.check_session(user, st.session_state.get(LAST_SEEN_KEY), st.session_state.get(LOGIN_SESSION_KEY))
    except AccountDisabled as exc:
        log_out(f"You were logged out: {plain(exc)}.")
        return None
    except user_errors() as exc:  # e.g. a busy database: nothing decided, try the next step again
        st.error(plain(exc))
        st.stop()
    st.session_state[USER_KEY] = user
    st.session_state[LAST_SEEN_KEY] = svc.clock()
    return user


def _resumed(svc: Service) -> UserInfo | None:
    """The log-in the browser's session cookie names (a reload, a bookmark, a new tab), once per browser session;
    raises `SessionEnded` when it no longer counts."""
    token = None if st.session_state.get(COOKIE_DISMISSED_KEY) else session_cookie.presented()
    if token is None:
        return None
    st.session_state[COOKIE_DISMISSED_KEY] = True  # resumed or refused, this cookie is read once
    resumed = svc.resume_login_session(token, session_cookie.user_agent())
    if resumed is None:  # ended or never issued: the browser should forget it
        _cookie_needs("clear", "", svc)
        return None
    user, login_session_id = resumed
    st.session_state[LOGIN_SESSION_KEY] = login_session_id
    return user


def sync_cookie() -> None:
    """Give the browser its session cookie after a log-in, or take it back after a log-out."""
    # One slot on every run, drawn or not: were the script's element to come and go, every element after it would
    # change place, and the browser would draw the page anew (a scrolled face grid would jump back to its top).
    slot = st.empty()
    action, code, until = st.session_state.get(COOKIE_KEY, (None, "", None))
    if until is None or service().clock() > until:
        st.session_state.pop(COOKIE_KEY, None)
        return
    with slot:
        if action == "hand_off":
            session_cookie.hand_off(code)
        else:
            session_cookie.clear()


def _cookie_needs(action: str, code: str, svc: Service) -> None:
    st.session_state[COOKIE_KEY] = (action, code, svc.clock() + COOKIE_DRAWN_FOR)


def require_user(*roles: str) -> UserInfo:
    """The logged-in user, checked by the server at every step (`session_user`); stops the page for anyone
    else (or for a role not listed)."""
    user = session_user()
    if user is None:
        st.warning(st.session_state.get(LOGOUT_REASON_KEY) or "Please log in.")
        st.stop()
    if roles and user.role not in roles:
        st.error(f"This page is not open to the {user.role} role.")
        st.stop()
    return user


def log_in(user: UserInfo) -> None:
    """Start this browser session's log-in (`user` as returned by `authenticate`, `create_first_admin` or
    `change_password`): its server-side record, and the session cookie the browser is given for it."""
    svc = service()
    st.session_state[USER_KEY] = user
    st.session_state[LAST_SEEN_KEY] = user.logged_in_at or svc.clock()
    st.session_state[COOKIE_DISMISSED_KEY] = True  # a cookie sent before this log-in is no longer this browser's
    try:
        ticket = svc.open_login_session(user, session_cookie.user_agent())
    except user_errors():  # e.g. a busy database: logged in all the same, only a reload will not keep it
        logger.warning("no log-in record for %s; a reload will log out", user.username, exc_info=True)
        st.session_state.pop(LOGIN_SESSION_KEY, None)
        return
    st.session_state[LOGIN_SESSION_KEY] = ticket.session_id
    _cookie_needs("hand_off", ticket.code, svc)


def end_log_in() -> None:
    """Log out at the person's request: the log-in record ends (so its cookie opens nothing, wherever a copy of it
    is), the browser is told to drop the cookie, and the browser session forgets everything."""
    user, login_session_id = current_user(), st.session_state.get(LOGIN_SESSION_KEY)
    if user is not None and login_session_id is not None:
        try:
            service().end_login_session(user, login_session_id)
        except user_errors():  # the cookie is cleared all the same; the record ends at its expiry
            logger.warning("the log-in record %s could not be ended", login_session_id, exc_info=True)
    log_out()


def log_out(reason: str = "") -> None:
    """Forget everything this browser session held; `reason`, if given, is shown on the log-in page."""
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    st.session_state[COOKIE_DISMISSED_KEY] = True
    _cookie_needs("clear", "", service())
    if reason:
        st.session_state[LOGOUT_REASON_KEY] = reason


def client_address() -> str | None:
    """The browser's IP address as the server sees it (None where Streamlit cannot tell), for log-in
    throttling per client."""
    try:
        return st.context.ip_address
    except Exception:  # outside a browser session (AppTest, scripts) there is no address
        return None


def attempt(action: Callable[[], T], what: str = "") -> T | None:
    """Run a service call that returns something; show a refusal as an error message instead of a
    traceback and return None. A disabled account is logged out at once."""
    try:
        return action()
    except user_errors() as exc:
        _report(exc, what)
        return None


def succeeded(action: Callable[[], object], what: str = "") -> bool:
    """Run a service call for its effect; True when it went through, False (with the refusal shown)
    when it was refused."""
    try:
        action()
    except user_errors() as exc:
        _report(exc, what)
        return False
    return True


def _report(exc: Exception, what: str) -> None:
    if isinstance(exc, AccountDisabled):  # the log-in no longer counts: say why on the log-in page
        log_out(f"You were logged out: {plain(exc)}.")
        st.rerun()
    # refusals quote names people typed (a group, a code): shown as typed, never as Markdown
    st.error(f"{plain(what)}: {plain(exc)}" if what else plain(exc))


# ------------------------------------------------------------------ pickers


def group_label(g: GroupInfo) -> str:
    return f"{g.name} ({g.kind})"


def session_label(s: SessionInfo, zone: tzinfo | None = None) -> str:
    """ "#3 2026-11-29 09:00 CET — maths", started in `zone` (default: the user's)."""
    note = f" — {s.context_note}" if s.context_note else ""
    return f"#{s.id} {local_time.local_text(s.started_at, zone or local_time.user_zone())}{note}"


def require_group(svc: Service, user: UserInfo, key: str) -> GroupInfo:
    """A selectbox of the groups `user` may see; stops the page when there are none."""
    group = pick_group(svc, user, key)
    if group is None:
        st.stop()
    return group


def pick_group(
    svc: Service, user: UserInfo, key: str, allow_all: bool = False, label: str = "Group"
) -> GroupInfo | None:
    """A selectbox of the groups `user` may see; None for "all groups" (or when there are none)."""
    groups = attempt(lambda: svc.list_groups(user)) or []
    if not groups:
        st.info("No groups yet. An administrator creates groups and grants access (Admin page).")
        return None
    options: list[GroupInfo | None] = ([None] if allow_all else []) + groups
    return st.selectbox(label, options, key=key, format_func=lambda g: "All groups" if g is None else group_label(g))
