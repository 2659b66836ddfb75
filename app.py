"""VAD Lens — the web app. Run with `streamlit run app.py`; its settings (database, model, log
level) come from environment variables, listed in vadcore/settings.py.

Before anyone logs in the app shows the log-in page (or, on an empty database, a form for the
first administrator); afterwards the navigation lists only the pages the user's role may open.
"""

import streamlit as st

import ui
from vadcore.settings import configure_logging

configure_logging()
st.set_page_config(page_title="VAD Lens", page_icon="🔎", layout="wide")

# Each url_path differs from its file's name: Streamlit's AppTest treats a pages/ folder as an
# old-style multipage app, and a page hash equal to a file name would run that file alone.
PAGES = {
    "analyse": st.Page(
        "pages/analyse.py", title="Analyse photos", icon=":material/photo_camera:", url_path="analyse-photos"
    ),
    "video": st.Page("pages/video.py", title="Analyse a video", icon=":material/videocam:", url_path="analyse-video"),
    "explorer": st.Page(
        "pages/explorer.py", title="Session explorer", icon=":material/scatter_plot:", url_path="session-explorer"
    ),
    "timelines": st.Page(
        "pages/timelines.py", title="Timelines", icon=":material/timeline:", url_path="subject-timelines"
    ),
    "subjects": st.Page("pages/subjects.py", title="Subjects", icon=":material/badge:", url_path="subject-codes"),
    "outcomes": st.Page(
        "pages/outcomes.py", title="Outcomes", icon=":material/insights:", url_path="outcomes-predictor"
    ),
    "admin": st.Page(
        "pages/admin.py", title="Admin", icon=":material/admin_panel_settings:", url_path="administration"
    ),
    "account": st.Page("pages/account.py", title="My account", icon=":material/person:", url_path="my-account"),
}
SECTIONS = {
    "Readings": ("analyse", "video", "explorer", "timelines"),
    "People and outcomes": ("subjects", "outcomes"),
    "Settings": ("admin", "account"),
}

user = ui.current_user()
if user is None:
    first_start = ui.service().needs_first_admin()
    entry = "pages/first_admin.py" if first_start else "pages/login.py"
    title = "Create the first administrator" if first_start else "Log in"
    page = st.navigation(
        [st.Page(entry, title=title, icon=":material/login:", url_path="welcome", default=True)], position="hidden"
    )
else:
    allowed = ui.ROLE_PAGES.get(user.role, ("account",))
    menu = {section: [PAGES[name] for name in names if name in allowed] for section, names in SECTIONS.items()}
    page = st.navigation({section: pages for section, pages in menu.items() if pages})
    with st.sidebar:
        st.caption(f"Logged in as **{user.display_name or user.username}** ({user.role})")
        if st.button("Log out", key="logout", icon=":material/logout:"):
            ui.log_out()
            st.rerun()

page.run()
