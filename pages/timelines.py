"""Timelines: one subject's V, A and D per session, with spread bands, class mix and rule marks; and, for
sessions recorded on video, their V, A and D along the video."""

import pandas as pd
import streamlit as st

import ui
from ui import figures
from ui import video as videos
from vadcore.taxonomy import VAD_DIMS

user = ui.require_user("admin", "psychologist")
svc = ui.service()
st.title("Timelines")

c1, c2 = st.columns(2)
with c1:
    group = ui.require_group(svc, user, key="timeline_group")
subjects = {s.id: s for s in ui.attempt(lambda: svc.list_subjects(user, group.id)) or []}
if not subjects:
    st.info(f"{group.name} has no subjects yet (Subjects page).")
    st.stop()
with c2:
    subject_id = st.selectbox(
        "Subject",
        list(subjects),
        key="timeline_subject",
        format_func=lambda i: f"{subjects[i].code} (consent: {subjects[i].consent})",
    )

# ---------------------------------------------------------------- the rule the psychologist sets
with st.expander("Alert rule", expanded=True):
    r1, r2, r3, r4 = st.columns(4)
    dim = r1.selectbox("Dimension", VAD_DIMS, key="rule_dim")
    direction = r2.selectbox("Fires when the session mean is", ["below", "above"], key="rule_direction")
    threshold = r3.number_input("Threshold (−1…+1)", -1.0, 1.0, -0.2, 0.05, key="rule_threshold")
    run_length = r4.number_input("for at least N sessions in a row", 1, 50, 3, key="rule_n")
rule_text = f"{dim} {direction} {threshold:+.2f} for {run_length}+ sessions in a row"

frame = ui.attempt(lambda: svc.readings_frame(user, subject_id=subject_id))
if frame is None:
    st.stop()
if frame.empty:
    st.info(f"No readings of {subjects[subject_id].code} yet.")
    st.stop()

group_sessions = ui.attempt(lambda: svc.list_sessions(user, group.id)) or []
notes = {s.id: s.context_note for s in group_sessions}
starts = {s.id: s.started_at for s in group_sessions}
grouped = frame.groupby("session_id")
per_session = pd.DataFrame({"n": grouped.size()})
for d in VAD_DIMS:
    per_session[f"{d}_mean"] = grouped[d].mean()
    per_session[f"{d}_std"] = grouped[d].std(ddof=0)
per_session = per_session.reset_index()
per_session["started_at"] = [
    starts.get(i) or frame.loc[frame.session_id == i, "captured_at"].min() for i in per_session["session_id"]
]
per_session["started_at"] = pd.to_datetime(per_session["started_at"], utc=True)
per_session["note"] = [notes.get(i) or "(no note)" for i in per_session["session_id"]]
per_session = per_session.sort_values("started_at", ignore_index=True)

# A session is marked when it ends a run of at least N consecutive sessions meeting the condition.
values = per_session[f"{dim}_mean"]
hit = values < threshold if direction == "below" else values > threshold
run = hit.groupby((~hit).cumsum()).cumsum()
fires = run >= run_length
marks = pd.DataFrame(
    {
        "started_at": per_session.loc[fires, "started_at"],
        "dim": dim,
        "value": values[fires],
        "text": [
            f"Rule fires: {rule_text}<br>session #{s}: {note}"
            for s, note in zip(per_session.loc[fires, "session_id"], per_session.loc[fires, "note"])
        ],
    }
)

code = subjects[subject_id].code
st.subheader(f"{code}: {len(frame)} readings in {len(per_session)} sessions")
if fires.any():
    st.error(f"The rule fires in {int(fires.sum())} session(s): {rule_text}.", icon=":material/flag:")
else:
    st.success(f"The rule does not fire: {rule_text}.")
st.plotly_chart(figures.vad_timeline(per_session, marks), key="timeline", width="stretch")
st.caption(
    "Lines: session mean; bands: ±1 standard deviation of the session's readings; "
    "red crosses: sessions where the alert rule fires. Hover for the session note."
)
st.plotly_chart(figures.class_mix(frame, "session_id", "Session"), key="timeline_mix", width="stretch")

with st.expander("Sessions and notes"):
    table = per_session[["started_at", "session_id", "n", f"{dim}_mean", "note"]].copy()
    table["rule fires"] = fires.map({True: "yes", False: ""})
    st.dataframe(table, hide_index=True, width="stretch")

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
        format_func=lambda i: ui.session_label(by_id[i]) if i in by_id else f"#{i}",
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
