"""Unsaved work on the Analyse page: what survives when the user opens another page, and the note that says so.

The page keeps, per analysed photo, its readings and a small preview (`ui.photos.AnalysedPhoto`, about 0.1-0.3 MB;
at most `ui.photos.MAX_BATCH_PHOTOS` of them), so these stay in the browser session until they are saved,
discarded here, or the user logs out (`ui.log_out` forgets the whole session). Added again on the Analyse page, a
kept photo is not analysed a second time.
"""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

from ui.photos import AnalysedPhoto

ANALYSES_KEY = "analyses"  # the Analyse page's session-state key: checksum -> (AnalysedPhoto | error text, seconds)


def unsaved_photos(held: Mapping[str, tuple[AnalysedPhoto | str, float]] | None) -> int:
    """How many of the Analyse page's photos (`held`, its session-state entry) found faces and are not saved."""
    return sum(isinstance(result, AnalysedPhoto) and result.has_faces for result, _ in (held or {}).values())


def note(count: int) -> str:
    """The sentence that tells the user `count` photos' readings are waiting."""
    photos = f"{count} photo{'s' if count != 1 else ''}"
    # The uploader forgets its files when another page is shown; the readings do not, so a photo added again is
    # shown at once.
    return (
        f"{photos} with unsaved readings. Save them on Analyse photos (add a photo again if it is not listed: it is "
        "not analysed twice), or discard them here."
    )


def _discard() -> None:
    st.session_state.pop(ANALYSES_KEY, None)


def show_waiting() -> None:
    """In the sidebar, under the menu: how many photos wait to be saved, and a button to discard them."""
    count = unsaved_photos(st.session_state.get(ANALYSES_KEY))
    if not count:
        return
    with st.sidebar:
        st.caption(note(count))
        st.button("Discard unsaved readings", key="discard_unsaved", icon=":material/delete:", on_click=_discard)
