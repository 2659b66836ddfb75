"""Subjects: pseudonymous codes in a group, their consent status, and their referrals to psychologists."""

import pandas as pd
import streamlit as st

import ui
from db.enums import CONSENT_STATUSES, REFERRER_ROLES
from db.services import looks_like_a_name
from ui import local_time
from ui.deployment import notice_download

user = ui.require_user()
svc = ui.service()
zone = local_time.user_zone()  # times shown in the browser's zone
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

# ---------------------------------------------------------------- referrals to a psychologist
st.subheader("Referrals")
st.caption(
    "A teacher or an administrator refers a subject whose consent is granted to a psychologist, who then sees that "
    "subject's readings on the Timelines page (this subject only, not the rest of the group). The referrer, the "
    "psychologist or an administrator can revoke it; withdrawing consent ends it."
)
referrals = ui.attempt(lambda: svc.list_referrals(user, group.id)) or []
if referrals:
    # Codes and names are typed by people: a dataframe shows them as they are, never as markdown.
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "subject": r.subject_code,
                    "psychologist": r.psychologist,
                    "referred by": r.referred_by,
                    "since": r.created_at,
                    "status": "active"
                    if r.active
                    else f"revoked {local_time.local_text(r.revoked_at, zone)} by {r.revoked_by}",
                }
                for r in referrals
            ]
        ),
        hide_index=True,
        width="content",
        column_config={"since": local_time.datetime_column("since", zone)},
        key="referrals_table",
    )
else:
    st.caption("No referrals in this group.")
refer_col, revoke_col = st.columns(2)
if subjects and user.role in REFERRER_ROLES:
    psychologists = {p.id: p for p in ui.attempt(lambda: svc.list_psychologists(user)) or []}
    with refer_col.form("refer_subject"):
        st.markdown("**Refer a subject to a psychologist**")
        by_id = {s.id: s for s in subjects}
        rsid = st.selectbox(
            "Subject", list(by_id), format_func=lambda i: f"{by_id[i].code} ({by_id[i].consent})", key="refer_subject"
        )
        pid = st.selectbox(
            "Psychologist",
            list(psychologists),
            format_func=lambda i: psychologists[i].display_name or psychologists[i].username,
            key="refer_psychologist",
        )
        same_code = st.checkbox(
            "Also this code in my other groups",
            key="refer_same_code",
            help="Only where a pupil keeps one code in every class: elsewhere the same code is another child.",
        )
        if st.form_submit_button("Refer") and pid is not None:
            made = ui.attempt(lambda: svc.refer_subject(user, rsid, pid, same_code=same_code), "Not referred")
            if made:
                code, where, to = made[0].subject_code, ", ".join(r.group_name for r in made), made[0].psychologist
                st.session_state["subjects_flash"] = f"Referred {ui.plain(code)} ({ui.plain(where)}) to {ui.plain(to)}."
                st.rerun()
active = {r.id: r for r in referrals if r.active}
if active:
    with revoke_col.form("revoke_referral"):
        st.markdown("**Revoke a referral**")
        rid = st.selectbox(
            "Referral",
            list(active),
            format_func=lambda i: f"{active[i].subject_code} → {active[i].psychologist} (#{i})",
            key="revoke_referral",
        )
        if st.form_submit_button("Revoke referral") and ui.succeeded(
            lambda: svc.revoke_referral(user, rid), "Not revoked"
        ):
            st.session_state["subjects_flash"] = f"Referral #{rid} revoked."
            st.rerun()
