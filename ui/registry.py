"""Every page of the app, once: its file, title, icon, address, menu section and the roles that may open it.

main.py builds the navigation from `PAGES`, and `ROLE_PAGES` (which pages each role may open) is derived from
it, so adding a page is one entry here (CONTRIBUTING.md). This decides only what the menu offers; the service
layer checks the role and group access again on every call.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from db.enums import ROLES, TIMELINE_ROLES


@dataclass(frozen=True)
class PageSpec:
    key: str  # the name code and tests use for the page (ROLE_PAGES)
    path: str  # the page's file, relative to the project root
    title: str
    icon: str
    # Differs from the file's name: Streamlit's AppTest treats a pages/ folder as an old-style multipage
    # app, and a page hash equal to a file name would run that file alone.
    url_path: str
    section: str  # the menu heading; headings appear in the order of their first page here
    roles: tuple[str, ...]
    # Session-state keys the page holds only while it is open (a video's analysis): dropped when the user opens
    # another page, so what one user's work costs the server does not outlive the page. The Analyse page's
    # readings and previews (about 0.1 MB a photo) are unsaved work instead: they stay until saved, discarded
    # or the user logs out (ui/unsaved.py).
    held: tuple[str, ...] = ()


EVERYONE = ROLES

PAGES: tuple[PageSpec, ...] = (
    PageSpec("analyse", "pages/analyse.py", "Analyse photos", ":material/photo_camera:", "analyse-photos",
             "Readings", EVERYONE),
    PageSpec("video", "pages/video.py", "Analyse a video", ":material/videocam:", "analyse-video",
             "Readings", EVERYONE, held=("video_analyses",)),
    PageSpec("explorer", "pages/explorer.py", "Session explorer", ":material/scatter_plot:", "session-explorer",
             "Readings", EVERYONE),
    PageSpec("timelines", "pages/timelines.py", "Timelines", ":material/timeline:", "subject-timelines",
             "Readings", TIMELINE_ROLES),
    PageSpec("subjects", "pages/subjects.py", "Subjects", ":material/badge:", "subject-codes",
             "People and outcomes", EVERYONE),
    PageSpec("outcomes", "pages/outcomes.py", "Outcomes", ":material/insights:", "outcomes-predictor",
             "People and outcomes", EVERYONE),
    PageSpec("admin", "pages/admin.py", "Admin", ":material/admin_panel_settings:", "administration",
             "Settings", ("admin",)),
    PageSpec("account", "pages/account.py", "My account", ":material/person:", "my-account",
             "Settings", EVERYONE),
)  # fmt: skip

# Addresses of the app that are no page of PAGES: the log-in page (or the first administrator's form), and the page
# an unknown address is sent to.
WELCOME_PATH = "welcome"
NOT_FOUND_PATH = "page-not-found"


def known_paths() -> frozenset[str]:
    """Every address the app answers with a page (for anyone: a page a role may not open explains why)."""
    return frozenset({WELCOME_PATH, NOT_FOUND_PATH, *(p.url_path for p in PAGES)})


# Which pages each role may open, in menu order.
ROLE_PAGES: dict[str, tuple[str, ...]] = {role: tuple(p.key for p in PAGES if role in p.roles) for role in ROLES}


def release_held(title: str, state: MutableMapping[str, Any]) -> list[str]:
    """Drop from `state` what the pages other than the one shown (by its title: Streamlit gives the default
    page an empty url_path) hold only while open; the keys dropped."""
    dropped = [key for page in PAGES if page.title != title for key in page.held if key in state]
    for key in dropped:
        del state[key]
    return dropped


def menu(role: str) -> dict[str, list[PageSpec]]:
    """The pages `role` may open, by menu section, sections in order and empty ones left out."""
    sections: dict[str, list[PageSpec]] = {}
    for page in PAGES:
        if role in page.roles:
            sections.setdefault(page.section, []).append(page)
    return sections
