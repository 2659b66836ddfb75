"""Subjects: pseudonymous codes in a group, and their consent status."""

import pandas as pd
import streamlit as st

import ui
from db.enums import CONSENT_STATUSES
from ui.deployment import notice_download

user = ui.require_user()
svc = ui.service()
st.title("Subjects")
st.caption(
    "Subjects are pseudonymous codes (no names). Only subjects with consent **granted** can be assigned faces. "
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

add, consent = st.columns(2)
with add.form("add_subject", clear_on_submit=True):
    st.markdown("**Add a subject**")
    code = st.text_input("Code", placeholder="e.g. S-014", key="new_subject_code")
    status = st.selectbox("Consent", CONSENT_STATUSES, index=1, key="new_subject_consent")
    if st.form_submit_button("Add subject"):
        if ui.attempt(lambda: svc.create_subject(user, group.id, code, status, is_simulated=group.is_simulated)):
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
