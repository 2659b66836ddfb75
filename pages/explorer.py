"""Session explorer: readings in V–A–D space, filtered by group, session, subject and date; a reading can be
moved to another subject or deleted (ui.corrections)."""

import streamlit as st

import ui
from ui import corrections, figures, local_time, model_note
from vadcore.csv_safety import to_csv
from vadcore.taxonomy import DOMINANCE_HELP, DOMINANCE_LABEL, EXPORT_COLUMNS

user = ui.require_user()
svc = ui.service()
zone = local_time.user_zone()  # times shown and days counted in the browser's zone
st.title("Session explorer")
model_note.show()  # the model that reads new photos and its card's headline
corrections.show_flash()

# ---------------------------------------------------------------- filters
f1, f2, f3, f4 = st.columns([3, 3, 2, 3])
with f1:
    group = ui.pick_group(svc, user, key="explore_group", allow_all=True)
gid = group.id if group else None
sessions = {s.id: s for s in ui.attempt(lambda: svc.list_sessions(user, gid)) or []}
subjects = {s.id: s for s in ui.attempt(lambda: svc.list_subjects(user, gid)) or []}
with f2:
    session_id = st.selectbox(
        "Session",
        [None, *sessions],
        key="explore_session",
        format_func=lambda i: "All sessions" if i is None else ui.session_label(sessions[i], zone),
    )
with f3:
    subject_id = st.selectbox(
        "Subject",
        [None, *subjects],
        key="explore_subject",
        format_func=lambda i: "Everyone" if i is None else subjects[i].code,
    )
with f4:
    dates = st.date_input(
        f"Dates ({local_time.zone_name(zone)})",
        value=(),
        key="explore_dates",
        format="YYYY-MM-DD",
        help="Pick a first and a last day; leave empty for all dates.",
    )
start, end = local_time.day_bounds(dates[0], dates[-1], zone) if dates else (None, None)

frame = ui.attempt(
    lambda: svc.readings_frame(user, group_id=gid, session_id=session_id, subject_id=subject_id, start=start, end=end)
)
if frame is None:
    st.stop()
if frame.empty:
    st.info("No readings match these filters yet. Analyse and save a photo first (Analyse photos).")
    st.stop()

n_subjects = frame["subject_id"].nunique()
m1, m2, m3, m4 = st.columns(4)
m1.metric("Readings", len(frame))
m2.metric("Sessions", frame["session_id"].nunique())
m3.metric("Subjects", n_subjects, help="Readings assigned to a subject code; the rest are anonymous.")
m4.metric("Anonymous", int(frame["subject_id"].isna().sum()))
if frame["is_simulated"].any():
    st.warning("These readings include SIMULATED demo data.", icon=":material/science:")

# ---------------------------------------------------------------- figures
tab3d, tab2d, tabmix, tabrows, tabfix = st.tabs(["3D V–A–D", "2D projections", "Class mix", "Table", "Correct"])
with tab3d:
    st.plotly_chart(figures.vad_scatter_3d(frame, zone), key="vad3d", width="stretch")
    st.caption(
        f"Axes fixed to the VAD scale −1…+1. Diamonds: {figures.PROTOTYPE_NAME}. Hover a point for subject and time. "
        + DOMINANCE_HELP
    )
with tab2d:
    st.plotly_chart(figures.vad_projections(frame, zone), key="vad2d", width="stretch")
with tabmix:
    by = "session_id" if frame["session_id"].nunique() > 1 or session_id else "group_id"
    st.plotly_chart(
        figures.class_mix(frame, by, "Session" if by == "session_id" else "Group"), key="mix", width="stretch"
    )
    shares = frame["label"].value_counts(normalize=True).mul(100).round(1).rename("share of faces (%)")
    st.dataframe(shares, width="content")
with tabrows:
    columns = [
        "captured_at",
        "session_id",
        "subject_code",
        "face_index",
        "label",
        "valence",
        "arousal",
        "dominance",
        "consistency_violations",
        "model_version",
    ]
    st.dataframe(
        frame[columns],
        hide_index=True,
        width="stretch",
        height=320,
        column_config={
            "captured_at": local_time.datetime_column("captured_at", zone),
            "dominance": st.column_config.NumberColumn(DOMINANCE_LABEL, help=DOMINANCE_HELP),
        },
    )
    st.download_button(
        "Download these readings (CSV)",
        to_csv(frame.rename(columns=EXPORT_COLUMNS), index=False),  # formula cells neutralised for spreadsheets
        file_name="vadlens_readings.csv",
        mime="text/csv",
        key="explore_csv",
    )
with tabfix:
    corrections.draw(svc, user, frame)
