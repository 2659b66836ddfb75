"""Unsaved work on the Analyse page: what survives when the user opens another page, and the note that says so.

The page keeps, per analysed photo, its readings and a small preview (`ui.photos.AnalysedPhoto`, about 0.1-0.3 MB;
at most `ui.photos.MAX_BATCH_PHOTOS` of them), and the subject the user chose for each face, so these stay in the
browser session until they are saved, discarded here, or the user logs out (`ui.log_out` forgets the whole session).
Added again on the Analyse page, a kept photo is not analysed a second time and its faces keep their subjects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import streamlit as st

from ui.photos import AnalysedPhoto

ANALYSES_KEY = "analyses"  # the Analyse page's session-state key: checksum -> (AnalysedPhoto | error text, seconds)
# checksum -> {face index: subject code}. Not the selectboxes' own keys: Streamlit drops a widget's state in a run
# that does not draw it, so another page would forget the choices.
ASSIGNMENTS_KEY = "face_subjects"


def face_key(checksum: str, face: int) -> str:
    """The key of the Analyse page's subject box for face `face` (0 = the first) of photo `checksum`."""
    return f"face_{checksum[:16]}_{face}"


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


def chosen_index(checksum: str, face: int, options: Sequence[str]) -> int:
    """Where in `options` is the subject chosen for face `face` (0 = the first) of photo `checksum`: 0 (the
    first option, anonymous) when none was chosen or it is no longer offered."""
    code = st.session_state.get(ASSIGNMENTS_KEY, {}).get(checksum, {}).get(face)
    return options.index(code) if code in options else 0


def remember(checksum: str, face: int, code: str) -> None:
    """Keep the subject chosen for face `face` of photo `checksum` until the photo is saved or discarded."""
    st.session_state.setdefault(ASSIGNMENTS_KEY, {}).setdefault(checksum, {})[face] = code


def forget(checksums: Iterable[str]) -> None:
    """Drop these photos' readings and their faces' subjects: saved, or taken out of the uploader."""
    analyses, assignments = st.session_state.get(ANALYSES_KEY, {}), st.session_state.get(ASSIGNMENTS_KEY, {})
    for checksum in checksums:
        analyses.pop(checksum, None)
        for face in assignments.pop(checksum, {}):
            # The box's own state can outlive its last drawing (Streamlit drops it only after a run that ends
            # normally, not one cut short by st.stop or st.rerun): it would bring the forgotten subject back.
            st.session_state.pop(face_key(checksum, face), None)


def _discard() -> None:
    forget(list(st.session_state.get(ASSIGNMENTS_KEY, {})))
    st.session_state.pop(ANALYSES_KEY, None)
    st.session_state.pop(ASSIGNMENTS_KEY, None)


def show_waiting() -> None:
    """In the sidebar, under the menu: how many photos wait to be saved, and a button to discard them."""
    count = unsaved_photos(st.session_state.get(ANALYSES_KEY))
    if not count:
        return
    with st.sidebar:
        st.caption(note(count))
        st.button("Discard unsaved readings", key="discard_unsaved", icon=":material/delete:", on_click=_discard)
