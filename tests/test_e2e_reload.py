"""End to end: a log-in survives a reload, addresses always land on a page, and the raw page list never shows.

The real app under `streamlit run app.py` (helpers.running_app; the launcher mounts the session cookie's route),
driven in headless Chromium like tests/test_e2e_browser.py, in one browser session: from the server's start the sidebar
never lists the pages/ folder; a typed address while logged out keeps the log-in form (no "Page not found"
pop-up) and, after log-in, shows the page asked for, or a friendly refusal where the role may not open it;
the session cookie is HTTP-only; F5 keeps the user on the page; an unknown address gets a friendly page;
after log-out the cookie opens nothing.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from test_e2e_browser import CHROMIUM, CHROMIUM_ARGS, _settle

from vadcore.settings import PROJECT_ROOT

from helpers import PASSWORDS, pilot_store, running_app

SCREENSHOTS = PROJECT_ROOT / "screenshots"
WAIT_MS = 240_000  # generous: the CPU may be shared with a training run

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent (bash .ci/services.sh installs it)"),
]


@pytest.fixture
def server(tmp_path):
    """The app (helpers.running_app) on a fresh SQLite file with an admin, a teacher and one class."""
    with pilot_store(tmp_path) as (url, svc, admin, group):
        teacher = svc.create_user(admin, "teacher", PASSWORDS["teacher"], "teacher", "Tom Teacher")
        svc.grant_access(admin, teacher.id, group.id)
        with running_app(url, tmp_path / "streamlit.log") as base:
            yield {"url": base, "svc": svc, "admin": admin}


def test_a_log_in_survives_a_reload_and_every_address_lands_on_a_page(server):
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1366, "height": 768})
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        try:
            _drive(page, context, server)
        except Exception:
            page.screenshot(path=str(SCREENSHOTS / "reload_failure.png"), full_page=True)
            raise
        finally:
            browser.close()


def _no_pop_up(page) -> None:
    assert page.get_by_text("Page not found").count() == 0


def _drive(page, context, server) -> None:
    base = server["url"]
    # The first run after a start is the slow one (the raw list used to show for ~8 s): watch the sidebar.
    page.goto(f"{base}/subject-timelines")
    raw_menu_seen = False
    while not page.get_by_label("Username", exact=True).is_visible():
        raw_menu_seen |= page.locator("[data-testid='stSidebarNav']").count() > 0
        page.wait_for_timeout(100)
    assert not raw_menu_seen
    _settle(page)
    _no_pop_up(page)
    assert page.url == f"{base}/subject-timelines"  # the address asked for is kept behind the log-in form

    page.get_by_label("Username", exact=True).fill("teacher")
    page.get_by_label("Password", exact=True).fill(PASSWORDS["teacher"])
    page.get_by_role("button", name="Log in").click()
    page.get_by_text("The Timelines page is not open to the teacher role.").wait_for()
    _no_pop_up(page)
    page.screenshot(path=str(SCREENSHOTS / "reload_01_refusal.png"), full_page=True)
    assert page.locator("[data-testid='stSidebarNav']").count() == 0

    # The session cookie: set by the server, out of reach of the page's JavaScript.
    deadline = time.monotonic() + 30
    while not (cookies := [c for c in context.cookies() if c["name"] == "vadlens_session"]):
        assert time.monotonic() < deadline, "no session cookie was set"
        page.wait_for_timeout(200)
    assert cookies[0]["httpOnly"] and cookies[0]["sameSite"] == "Strict"
    assert "vadlens_session" not in page.evaluate("document.cookie")

    page.get_by_role("link", name="Subjects").first.click()
    page.get_by_role("heading", name="Subjects").first.wait_for()
    page.reload()
    page.get_by_role("heading", name="Subjects").first.wait_for()
    _settle(page)
    assert page.url == f"{base}/subject-codes"
    assert page.get_by_label("Username", exact=True).count() == 0
    page.screenshot(path=str(SCREENSHOTS / "reload_02_after_f5.png"), full_page=True)
    log = server["svc"].audit_log(server["admin"], limit=100)
    assert (log["action"] == "session_resumed").sum() == 1

    page.goto(f"{base}/no-such-page")
    page.get_by_role("heading", name="No such page").wait_for()
    _settle(page)
    _no_pop_up(page)
    page.screenshot(path=str(SCREENSHOTS / "reload_03_unknown.png"), full_page=True)

    page.get_by_role("button", name="Log out").click()
    page.get_by_label("Username", exact=True).wait_for()
    _settle(page)
    page.reload()
    page.get_by_label("Username", exact=True).wait_for()
    _settle(page)
    assert page.get_by_role("heading", name="Subjects").count() == 0
