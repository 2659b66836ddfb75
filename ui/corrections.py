"""The Session explorer's corrections: move a saved reading to another consenting subject of its group (or make
it anonymous), or delete it after a confirmation. The service decides who may (anyone with access to the
group) and audits each change with the old value; this module only draws the form and reports the outcome.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

import ui
from db.views import UserInfo

if TYPE_CHECKING:
    from db.services import Service

FLASH_KEY = "explore_flash"  # the success message kept over the rerun that redraws the figures


def show_flash() -> None:
    """The message of the last correction, once (the page reruns after a change so its figures are current)."""
    if flash := st.session_state.pop(FLASH_KEY, None):
        st.success(flash, icon=":material/check_circle:")


def reading_label(row: pd.Series) -> str:
    """A selectbox option (shown as text, never Markdown): number, session, face, class, subject."""
    who = "anonymous" if pd.isna(row["subject_code"]) else row["subject_code"]
    return f"#{row['reading_id']} — session #{row['session_id']}, face {row['face_index'] + 1}, {row['label']}, {who}"


def draw(svc: Service, user: UserInfo, frame: pd.DataFrame) -> None:
    """Pick one of `frame`'s readings, then move it or delete it."""
    st.caption(
        "Move a reading assigned to the wrong person, or delete one that is no person (a poster, a false face). "
        "Open to everyone with access to the group; each change is logged with the old value."
    )
    rows = frame.set_index("reading_id", drop=False)
    reading_id = st.selectbox(
        "Reading",
        list(rows.index),
        key="fix_reading",
        format_func=lambda i: reading_label(rows.loc[i]),
        help="Narrow the list with the session filter above.",
    )
    if reading_id is None:
        return
    row = rows.loc[reading_id]
    current = None if pd.isna(row["subject_id"]) else int(row["subject_id"])
    subjects = ui.attempt(lambda: svc.list_subjects(user, int(row["group_id"]))) or []
    codes = {s.id: s.code for s in subjects if s.consent == "granted"}
    options: list[int | None] = [None, *codes]
    choice = st.selectbox(
        "New subject",
        options,
        index=options.index(current) if current in options else 0,
        key=f"fix_subject_{reading_id}",  # one per reading: it starts at that reading's subject
        format_func=lambda i: "anonymous (no subject)" if i is None else codes[i],
        help="Only subjects of the reading's group with consent granted.",
    )
    if pd.notna(row["track_id"]):  # a video reading
        st.caption("A video reading moves with its whole track: the track is one person.")
    if st.button("Save the new subject", key="fix_save", disabled=choice == current):
        moved = ui.attempt(lambda: svc.reassign_reading(user, int(reading_id), choice))
        if moved is not None:
            where = "anonymous" if choice is None else ui.plain(codes[choice])
            st.session_state[FLASH_KEY] = f"Reading #{reading_id} ({moved} reading(s)) moved to {where}."
            st.rerun()

    sure = st.checkbox(f"Yes, delete reading #{reading_id}", key=f"fix_confirm_{reading_id}")
    if st.button("Delete this reading", type="primary", key="fix_delete", disabled=not sure):
        if ui.succeeded(lambda: svc.delete_reading(user, int(reading_id))):
            st.session_state[FLASH_KEY] = f"Deleted reading #{reading_id}."
            st.session_state.pop("fix_reading", None)  # it is gone: the picker starts again at the first reading
            st.rerun()
