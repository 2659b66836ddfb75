"""VAD Lens — the web app. Run with `streamlit run app.py`; its settings (database, model, log
level) come from environment variables, listed in vadcore/settings.py.

Before anyone logs in the app shows the log-in page (or, on an empty database, a form for the
first administrator); afterwards the navigation lists only the pages the user's role may open (every page
and its roles are listed once, in ui/registry.py). At every step the server checks that the log-in still
counts (account active, password unchanged, not idle too long; `ui.session_user`), else logs out.
"""

import streamlit as st

import ui
from ui import registry
from vadcore.settings import configure_logging

configure_logging()
st.set_page_config(page_title="VAD Lens", page_icon="🔎", layout="wide")

user = ui.session_user()
if user is None:
    first_start = ui.service().needs_first_admin()
    entry = "pages/first_admin.py" if first_start else "pages/login.py"
    title = "Create the first administrator" if first_start else "Log in"
    page = st.navigation(
        [st.Page(entry, title=title, icon=":material/login:", url_path="welcome", default=True)], position="hidden"
    )
else:
    page = st.navigation(
        {
            section: [st.Page(p.path, title=p.title, icon=p.icon, url_path=p.url_path) for p in pages]
            for section, pages in registry.menu(user.role).items()
        }
    )
    with st.sidebar:
        st.caption(f"Logged in as **{ui.plain(user.display_name or user.username)}** ({user.role})")
        if st.button("Log out", key="logout", icon=":material/logout:"):
            ui.log_out()
            st.rerun()

# What a page holds only while it is open (the Analyse page's readings and previews) goes when another is shown.
registry.release_held(page.title, st.session_state)
page.run()
