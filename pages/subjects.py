"""Subjects: pseudonymous codes in a group, and their consent status."""

import pandas as pd
import streamlit as st

import ui
from db.enums import CONSENT_STATUSES
from db.services import looks_like_a_name
from ui.deployment import notice_download

user = ui.require_user()
svc = ui.service()
st.title("Subjects")
st.caption(
    "Subjects are pseudonymous codes (no names). A new subject starts with consent **pending**; set it to "
    "**granted** once the signed consent sheet is back. Only subjects with consent granted can be assigned faces. "
    "While consent is not granted (withdrawn), their readings are hidden everywhere and left out of the outcome "
    "study; granting it again shows them again. To erase them, an administrator deletes the subject."
)

group = ui.require_group(svc, user, key="subjects_group")
notice_download(svc, user, group)  # what the people analysed must be told (EU AI Act, Art. 50(3))
subjects = ui.attempt(lambda: svc.list_subjects(user, group.id)) or []
if subjects:
    st.dataframe(
        pd.DataFrame([{"code": s.code, "consent": s.consent, "simulated": s.is_simulated} for s in subjects]),
        hide_index=True,
        width="content",
        height=min(35 * len(subjects) + 38, 300),
    )
else:
    st.info(f"{ui.plain(group.name)} has no subjects yet.")

if flash := st.session_state.pop("subjects_flash", None):
    st.success(flash)
if st.session_state.pop("subjects_form_reset", False):  # after a subject is added: an empty form again
    st.session_state["new_subject_code"] = ""
    st.session_state["new_subject_consent"] = "pending"
# A code that reads like a name is added only once the box under the warning is ticked; the form keeps what was
# typed (no clear_on_submit), so a warning or a refusal costs no retyping.
flagged = st.session_state.get("subject_code_flagged")  # (code, attempt number) of the last warning

add, consent = st.columns(2)
with add.form("add_subject"):
    st.markdown("**Add a subject**")
    code = st.text_input("Code", placeholder="e.g. S-014", key="new_subject_code")
    # Pending until the signed sheet is back: consent is never assumed.
    status = st.selectbox(
        "Consent", CONSENT_STATUSES, index=CONSENT_STATUSES.index("pending"), key="new_subject_consent"
    )
    not_a_name = False
    if flagged is not None:
        st.warning(
            f"“{ui.plain(flagged[0])}” looks like a person's name. Subject codes must be pseudonymous (e.g. S-014): "
            "a name here is stored, listed and exported with every reading.",
            icon=":material/badge:",
        )
        not_a_name = st.checkbox("This is a pseudonymous code, not a name", key=f"subject_not_a_name_{flagged[1]}")
    if st.form_submit_button("Add subject"):
        if looks_like_a_name(code) and not (not_a_name and flagged is not None and flagged[0] == code):
            attempt = 1 + (flagged[1] if flagged is not None else 0)  # a fresh, unticked box for each warning
            st.session_state["subject_code_flagged"] = (code, attempt)
            st.rerun()
        created = ui.attempt(lambda: svc.create_subject(user, group.id, code, status, is_simulated=group.is_simulated))
        if created is not None:
            st.session_state.pop("subject_code_flagged", None)
            st.session_state["subjects_form_reset"] = True
            st.session_state["subjects_flash"] = f"Added {ui.plain(created.code)} (consent {created.consent})."
            st.rerun()
if subjects:
    with consent.form("set_consent"):
        st.markdown("**Change consent**")
        by_id = {s.id: s for s in subjects}
        sid = st.selectbox("Subject", list(by_id), format_func=lambda i: by_id[i].code, key="consent_subject")
        new = st.selectbox("Consent", CONSENT_STATUSES, key="consent_value")
        if st.form_submit_button("Save consent"):
            if ui.attempt(lambda: svc.set_consent(user, sid, new)):
                st.rerun()
