"""The app's pages as Streamlit sees them, and the menu the user sees.

Every address of ui/registry.py answers for everyone, so a reload, a bookmark or a typed address never meets
Streamlit's "Page not found" pop-up: before log-in each one shows the log-in form (and, after log-in, the page
asked for); a page the user's role may not open says so; an unknown address lands on a "no such page" page
(ui/session_cookie.py sends it there). Streamlit's own menu stays hidden (`position="hidden"`, and
`client.showSidebarNavigation = false` in .streamlit/config.toml, which also keeps the raw list of the pages/
folder from showing while the first run starts); the menu is drawn here from the registry.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from db.views import UserInfo
from ui import registry


def pages(user: UserInfo | None, first_start: bool) -> list[st.Page]:
    """Every page for `user` (None: not logged in), the default one (the welcome address) first. The default page
    answers at the app's root, not at its own address, so no page of the registry is the default: a deep link to
    any of them opens it."""

    def not_found() -> None:
        st.title("No such page")
        st.info("VAD Lens has no page at this address.", icon=":material/help:")
        if user is None:
            st.page_link(welcome, label="Log in", icon=":material/login:")
        else:
            st.write("Choose a page from the menu.")

    welcome: st.Page
    not_found_page = st.Page(not_found, title="No such page", icon=":material/help:", url_path=registry.NOT_FOUND_PATH)
    if user is None:
        entry = "pages/first_admin.py" if first_start else "pages/login.py"
        title = "Create the first administrator" if first_start else "Log in"
        welcome = st.Page(entry, title=title, icon=":material/login:", url_path=registry.WELCOME_PATH, default=True)
        # The same form at every page's address: the address is kept, and after log-in the page itself opens.
        asked = [st.Page(entry, title=title, icon=":material/login:", url_path=p.url_path) for p in registry.PAGES]
        return [welcome, *asked, not_found_page]
    opened = [
        st.Page(p.path, title=p.title, icon=p.icon, url_path=p.url_path)
        if user.role in p.roles
        else st.Page(_refusal(p, user.role), title=p.title, icon=p.icon, url_path=p.url_path)
        for p in registry.PAGES
    ]
    home = next(page for page, spec in zip(opened, registry.PAGES, strict=True) if user.role in spec.roles)
    # The root (and the log-in page's address, where a log-in happened) opens the role's first page.
    welcome = st.Page(lambda: st.switch_page(home), title=home.title, url_path=registry.WELCOME_PATH, default=True)
    return [welcome, *opened, not_found_page]


def draw_menu(user: UserInfo) -> None:
    """The sidebar menu: the pages `user`'s role may open, by section."""
    with st.sidebar:
        for section, specs in registry.menu(user.role).items():
            st.caption(section)
            for p in specs:
                st.page_link(p.path, label=p.title, icon=p.icon)


def _refusal(spec: registry.PageSpec, role: str) -> Callable[[], None]:
    def refuse() -> None:
        st.title(spec.title)
        st.error(f"The {spec.title} page is not open to the {role} role.", icon=":material/block:")
        st.write("Ask an administrator if your work needs it, or choose a page from the menu.")

    return refuse
