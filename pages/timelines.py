"""Timelines: the group's subjects whose stored alert rule fires now; one subject's V, A and D per session,
with spread bands, class mix and the marks of the group's alert rule; notes on the subject's timeline; and, for
sessions recorded on video, their V, A and D along the video. The page draws: the aggregation and the rule are
vadcore.features, the rule and notes are stored by the service."""

import streamlit as st

import ui
from db.enums import TIMELINE_NOTE_MAX_CHARS, TIMELINE_ROLES
from ui import figures, local_time, model_note, page_address
from ui import video as videos
from vadcore.features import (
    ALERT_DIRECTIONS,
    DEFAULT_ALERT_RULE,
    MAX_RUN_LENGTH,
    AlertRule,
    rule_fires,
    rule_status_by_subject,
    session_summary,
)
from vadcore.taxonomy import DOMINANCE_HELP, DOMINANCE_LABEL, VAD_DIMS, VAD_MAX, VAD_MIN

RULE_KEYS = ("rule_dim", "rule_direction", "rule_threshold", "rule_n")
IN_GROUPS, REFERRED = "In my groups", "Referred to me"

user = ui.require_user(*TIMELINE_ROLES)
svc = ui.service()
zone = local_time.user_zone()  # times shown in the browser's zone
st.title("Timelines")
model_note.show()  # the model that reads new photos and its card's headline
address_note = st.empty()

# Subjects referred to a psychologist are shown one by one, from whichever group they are in; never their group.
referred = {}
if user.role == "psychologist":
    referred = {r.subject_id: r for r in ui.attempt(lambda: svc.referred_to_me(user)) or []}


def address_not_open() -> None:
    """The address named a group or subject this user may not open: one note, the same whether it exists or
    not, and the address forgets it (the page shows what it would without it)."""
    address_note.info(
        "The address names a group or subject that is not open to you (or no longer exists); showing another.",
        icon=":material/link_off:",
    )
    page_address.keep(group=None, subject=None)


# A reload (F5) or a bookmark opens the group and subject chosen last: the address keeps their ids
# (ui/page_address.py), honoured only where the service lists them for this user; a referred subject's has no
# group.
wanted = page_address.read_once("timelines", "group", "subject")
if "group" in wanted:
    visible = {g.id: g for g in ui.attempt(lambda: svc.list_groups(user)) or []}
    if wanted["group"] in visible:
        st.session_state["timeline_group"] = visible[wanted["group"]]
    else:
        address_not_open()
        wanted = {}
elif "subject" in wanted:
    if wanted["subject"] in referred:
        st.session_state.update(timeline_source=REFERRED, timeline_referred_subject=wanted["subject"])
    else:
        address_not_open()
    wanted = {}  # nothing more of it to apply
source = st.radio("Subjects", (IN_GROUPS, REFERRED), horizontal=True, key="timeline_source") if referred else IN_GROUPS
if source == REFERRED:
    # No group is open: no group rule, no session notes (they may speak of others), the default rule.
    group, stored, group_sessions = None, None, []
    labels = {i: f"{r.subject_code} ({r.group_name}; referred by {r.referred_by})" for i, r in referred.items()}
else:
    with st.columns(2)[0]:
        group = ui.require_group(svc, user, key="timeline_group")
    subjects = {s.id: s for s in ui.attempt(lambda: svc.list_subjects(user, group.id)) or []}
    if "subject" in wanted:  # of the group the address named, which the user may open
        if wanted["subject"] in subjects:
            st.session_state["timeline_subject"] = wanted["subject"]
        else:
            address_not_open()
    if not subjects:
        st.info("This group has no subjects yet (Subjects page).")
        st.stop()
    stored = ui.attempt(lambda: svc.alert_rule(user, group.id))
    if stored is None:
        st.stop()
    group_sessions = ui.attempt(lambda: svc.list_sessions(user, group.id)) or []
    labels = {i: f"{s.code} (consent: {s.consent})" for i, s in subjects.items()}
starts = {s.id: s.started_at for s in group_sessions}

# ---------------------------------------------------------------- the group's subjects under its stored rule
# One read of the group's readings per page run (audited once, not per subject); withdrawn consent hides them.
if group is not None and stored is not None:
    group_frame = ui.attempt(lambda: svc.readings_frame(user, group_id=group.id))
    with st.expander("Subjects whose alert rule fires now", expanded=True):
        st.caption(
            f"The group's {'default' if stored.is_default else 'stored'} rule: {stored.rule.describe()}. "
            "Only subjects with readings in this group (and consent granted) are listed; select a row to open "
            "that subject's timeline below."
        )
        if group_frame is not None and group_frame.empty:
            st.caption("No readings in this group yet.")
        elif group_frame is not None:
            status = rule_status_by_subject(group_frame, starts, stored.rule)
            table_key = f"caseload_{group.id}"  # one per group: a row picked in one group is not applied to another

            def open_selected(
                key: str = table_key, ids: tuple[int, ...] = tuple(map(int, status["subject_id"]))
            ) -> None:
                # A callback runs before the next run draws the subject picker, so it may set the picker's value.
                rows = st.session_state[key].selection.rows
                if rows and ids[rows[0]] in subjects:
                    st.session_state["timeline_subject"] = ids[rows[0]]

            st.text(f"The rule fires now for {int(status['fires_now'].sum())} of {len(status)} subjects.")
            # Codes are typed by people: a dataframe shows them as they are, never as markdown.
            st.dataframe(
                status.drop(columns="subject_id"),
                key=table_key,
                on_select=open_selected,
                selection_mode="single-row",
                hide_index=True,
                column_config={
                    "subject_code": "Subject",
                    "sessions": "Sessions",
                    "last_session": local_time.datetime_column("Last session", zone, with_time=False),
                    "fires_now": st.column_config.CheckboxColumn("Fires now"),
                    "since": local_time.datetime_column(
                        "Since", zone, with_time=False, help="The first session of the run in a row that meets the rule"
                    ),
                    "latest_mean": st.column_config.NumberColumn(f"Latest {stored.rule.dim} mean", format="%+.2f"),
                    "sessions_fired": st.column_config.NumberColumn("Sessions it fired"),
                },
            )

with st.columns(2)[0]:
    subject_id = st.selectbox(
        "Subject",
        list(labels),
        key="timeline_subject" if stored is not None else "timeline_referred_subject",
        format_func=labels.get,
    )
page_address.keep(group=None if group is None else group.id, subject=subject_id)
if stored is None and st.button("End this referral", key="timeline_end_referral", icon=":material/link_off:"):
    if ui.succeeded(lambda: svc.revoke_referral(user, referred[subject_id].id), "The referral was not ended"):
        st.rerun()

# ---------------------------------------------------------------- the group's alert rule
# The editor shows the group's stored rule when the group changes, the rule was saved (here or by someone
# else) or the page is opened again (Streamlit drops the state of widgets another page did not draw); edits in
# between apply to the charts at once and last until then.
loaded = ("referred", None) if stored is None else (group.id, stored.set_at)
if st.session_state.get("rule_loaded") != loaded or any(k not in st.session_state for k in RULE_KEYS):
    r = DEFAULT_ALERT_RULE if stored is None else stored.rule
    st.session_state.update(dict(zip(RULE_KEYS, (r.dim, r.direction, r.threshold, r.run_length)), rule_loaded=loaded))
with st.expander("Alert rule", expanded=True):
    r1, r2, r3, r4 = st.columns(4)
    dim = r1.selectbox(
        "Dimension",
        VAD_DIMS,
        key="rule_dim",
        format_func=lambda d: DOMINANCE_LABEL if d == "dominance" else d,
        help=DOMINANCE_HELP,
    )
    direction = r2.selectbox("Fires when the session mean is", ALERT_DIRECTIONS, key="rule_direction")
    threshold = r3.number_input("Threshold (−1…+1)", VAD_MIN, VAD_MAX, step=0.05, key="rule_threshold")
    run_length = r4.number_input("for at least N sessions in a row", 1, MAX_RUN_LENGTH, step=1, key="rule_n")
    rule = AlertRule(dim, direction, float(threshold), int(run_length))
    if stored is not None and st.button(
        "Save as the group's rule", key="save_rule", icon=":material/save:", disabled=rule == stored.rule
    ):
        saved = ui.attempt(lambda: svc.set_alert_rule(user, group.id, rule), "The rule was not saved")
        if saved is not None:
            stored = saved
            st.session_state["rule_loaded"] = (group.id, saved.set_at)
            st.success(f"Saved as the group's rule: {rule.describe()}.")
    # Names are typed by people: st.text shows them as they are, never as markdown (so do the messages here).
    if stored is None:
        st.text(f"Referred subjects are shown with the default rule ({DEFAULT_ALERT_RULE.describe()}).")
    elif stored.is_default:
        st.text(f"{group.name} has no stored rule yet; this is the default ({stored.rule.describe()}).")
    else:
        set_at = local_time.local_text(stored.set_at, zone)
        st.text(f"Stored rule: {stored.rule.describe()}; set by {stored.set_by}, {set_at}.")
    if stored is not None and rule != stored.rule:
        st.caption("The charts below use the edited rule; it applies to everyone once saved.")

# ---------------------------------------------------------------- the sessions
frame = ui.attempt(lambda: svc.readings_frame(user, subject_id=subject_id))
if frame is None:
    st.stop()
if frame.empty:
    st.info("No readings of this subject yet.")
else:
    per_session = session_summary(frame, starts, {s.id: s.context_note for s in group_sessions})
    fires = rule_fires(per_session, rule)
    st.subheader(f"{len(frame)} readings in {len(per_session)} sessions")
    if fires.any():
        st.error(f"The rule fires in {int(fires.sum())} session(s): {rule.describe()}.", icon=":material/flag:")
    else:
        st.success(f"The rule does not fire: {rule.describe()}.")
    st.plotly_chart(figures.vad_timeline(per_session, fires, rule, zone=zone), key="timeline", width="stretch")
    st.caption(
        "Lines: session mean; bands: ±1 standard deviation of the session's readings; "
        "red crosses: sessions where the alert rule fires. Hover for the session note."
    )
    st.plotly_chart(figures.class_mix(frame, "session_id", "Session"), key="timeline_mix", width="stretch")
    with st.expander("Sessions"):
        table = per_session[["started_at", "session_id", "n", f"{rule.dim}_mean", "note"]]
        st.dataframe(
            table.assign(**{"rule fires": fires.map({True: "yes", False: ""})}),
            hide_index=True,
            column_config={"started_at": local_time.datetime_column("started_at", zone)},
        )

# ---------------------------------------------------------------- notes on the timeline
st.subheader("Notes on this timeline")
notes = ui.attempt(lambda: svc.timeline_notes(user, subject_id)) or []
if not notes:
    st.caption("No notes yet.")
for note in notes:
    with st.container(border=True):
        # A note and its author's name are typed by people: plain text only, never markdown or HTML.
        st.text(f"{local_time.local_text(note.written_at, zone)}, {note.author}")
        st.text(note.text)
with st.form("timeline_note", clear_on_submit=True):
    text = st.text_area("New note", max_chars=TIMELINE_NOTE_MAX_CHARS, key="timeline_note_text")
    if st.form_submit_button("Add note", icon=":material/edit_note:") and ui.succeeded(
        lambda: svc.add_timeline_note(user, subject_id, text), "The note was not saved"
    ):
        st.rerun()  # lists the new note above

# ---------------------------------------------------------------- within one video session
in_videos = videos.video_sessions(frame)
if in_videos:
    st.subheader("Within a video session")
    by_id = {s.id: s for s in group_sessions}
    video_session = st.selectbox(
        "Video session",
        in_videos,
        index=len(in_videos) - 1,  # the newest
        key="timeline_video_session",
        format_func=lambda i: ui.session_label(by_id[i], zone) if i in by_id else f"#{i}",
    )
    curve = videos.session_curve(frame, video_session)
    st.plotly_chart(
        figures.vad_over_video(curve, title=f"Session #{video_session}: V, A and D over the video"),
        key="timeline_video",
        width="stretch",
    )
    st.caption(
        f"{len(curve)} readings of this subject in the video, one per sampled frame ({videos.SAMPLE_FPS:g} "
        "frames/s, a single crop and its mirror image); time runs from the start of the recording."
    )
