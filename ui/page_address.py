"""What a page keeps in its address (`?group=3&subject=12`), so that a reload (F5) or a bookmark opens the same
choice again. Only database ids go there, never codes or names: an address ends up in browser history, bookmarks
and server logs. The page checks what it reads against what the service lists for the user, as it would any
choice."""

from __future__ import annotations

import streamlit as st

_MAX_DIGITS = 18  # an id fits in a 64-bit integer; a longer value is not one


def read_once(page: str, *names: str) -> dict[str, int | None]:
    """The ids `names` in the address, the first time `page` runs in this browser session (a reload or a bookmark
    starts a new one); empty afterwards, when the page's own widgets hold the choice. A name that is absent is
    left out; one whose value is not a positive integer maps to None (it names nothing the user may open)."""
    flag = f"page_address_read_{page}"
    if st.session_state.get(flag):
        return {}
    st.session_state[flag] = True
    found: dict[str, int | None] = {}
    for name in names:
        value = st.query_params.get(name)
        if value is not None:
            digits = value.isascii() and value.isdigit() and len(value) <= _MAX_DIGITS
            found[name] = int(value) if digits and int(value) > 0 else None
    return found


def keep(**ids: int | None) -> None:
    """Put these ids in the address (None takes one out); the browser's address changes without a reload."""
    for name, value in ids.items():
        if value is None:
            if name in st.query_params:
                del st.query_params[name]
        elif st.query_params.get(name) != str(value):
            st.query_params[name] = str(value)
