"""VAD Lens — the script Streamlit runs for every browser interaction. Serve it with `streamlit run app.py`
(which mounts the session cookie's route on Streamlit's server); its settings (database, model, log level) come
from environment variables, listed in vadcore/settings.py.

Before anyone logs in the app shows the log-in page (or, on an empty database, a form for the
first administrator), at whatever page address was asked for; afterwards the menu lists only the pages the
user's role may open (every page and its roles are listed once, in ui/registry.py; ui/navigation.py). At every
step the server checks that the log-in still counts (account active, password unchanged, its record open, not
idle too long; `ui.session_user`), else logs out. A log-in also survives a
reload (an HTTP-only session cookie; ui/session_cookie.py).
"""

import streamlit as st

import ui
from ui import navigation, registry, unsaved
from vadcore.settings import configure_logging

configure_logging()
st.set_page_config(page_title="VAD Lens", page_icon="🔎", layout="wide")

user = ui.session_user()  # also resumes the log-in from the session cookie after a reload (ui/session_cookie.py)
pages = navigation.pages(user, user is None and ui.service().needs_first_admin())
page = st.navigation(pages, position="hidden")
if user is not None:
    navigation.draw_menu(user)
    unsaved.show_waiting()  # the Analyse page's readings stay until saved or discarded, whatever page is open
    with st.sidebar:
        st.caption(f"Logged in as **{ui.plain(user.display_name or user.username)}** ({user.role})")
        if st.button("Log out", key="logout", icon=":material/logout:"):
            ui.end_log_in()
            st.switch_page(pages[0])  # the welcome address: the log-in form, whatever page was open
ui.sync_cookie()

# What a page holds only while it is open (a video's analysis) goes when another is shown.
registry.release_held(page.title, st.session_state)
page.run()
