"""VAD Lens — the web app: `streamlit run app.py`. Its settings (database, model, log level) come from environment
variables, listed in vadcore/settings.py.

main.py is the script Streamlit runs for every browser interaction; this file serves it on Streamlit's own server
(`st.App`, Starlette) with what a script cannot do: the route that sets the HTTP-only session cookie, so a log-in
survives a reload, a bookmark or a typed address, and the redirect of unknown addresses to a friendly page
(ui/session_cookie.py).
"""

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from ui import session_cookie

# A pages/ folder beside app.py makes Streamlit run the first script run after a start as an old-style multipage
# app: the raw list of pages/ in the sidebar, and a "Page not found" pop-up over any page address, until main.py's
# st.navigation switches that off for the process (which is what this does, before the first run). An internal
# flag: tests/test_e2e_reload.py fails if an upgrade of Streamlit changes it.
PagesManager.uses_pages_directory = False

app = st.App("main.py", routes=session_cookie.routes(), middleware=session_cookie.middleware())
