"""Analyse a video: one recording in, one track per person, V/A/D over the video, saved as a new session."""

import time
from functools import partial

import streamlit as st

import ui
from ui import figures, model_note, photos
from ui import video as videos
from ui.deployment import require_analysis_allowed
from vadcore.images import image_checksum
from vadcore.video import VideoError

user = ui.require_user("admin", "teacher", "psychologist")
svc = ui.service()
st.title("Analyse a video")
require_analysis_allowed(svc, user)  # the EU AI Act: off where the deployment record forbids it

if flash := st.session_state.pop("video_flash", None):
    st.success(flash)

# ---------------------------------------------------------------- where the readings go
nonce = st.session_state.setdefault("video_nonce", 0)  # new keys empty the note and the uploader after saving
left, right = st.columns(2)
with left:
    group = ui.require_group(svc, user, key="video_group")
with right:
    note = st.text_input(
        "Note for the new session (optional)", key=f"video_note_{nonce}", placeholder="e.g. reading circle"
    )

# ---------------------------------------------------------------- the video in
upload = st.file_uploader(
    "A video (MP4, MOV, M4V, WebM, MKV, AVI)", type=list(videos.VIDEO_TYPES), key=f"video_upload_{nonce}"
)
st.caption(
    "Saving makes a new session in the chosen group, holding every reading of the video. The video itself is "
    "never stored: only its checksum and, where the group keeps photos, a contact sheet of the faces' thumbnails. "
    "Uploads are limited to 200 MB (a few minutes of 720p video); an administrator can analyse longer "
    "recordings with scripts/analyse.py."
)
if upload is None:
    model_note.show()  # the active model and its card's headline
    st.stop()

data = upload.getvalue()
checksum = image_checksum(data)  # SHA-256 of the file's bytes
st.text(f"Video: {upload.name}")

# ---------------------------------------------------------------- analysis (once per video; only the result is kept)
cache = st.session_state.setdefault("video_analyses", {})  # checksum -> (VideoAnalysis | error text, seconds)
if checksum not in cache:
    bar = st.progress(0.0, text="Reading the video…")
    started = time.perf_counter()
    try:
        analysis = videos.analyse(
            data, upload.name, progress=lambda done: bar.progress(done, text=f"Reading faces: {done:.0%} of the video")
        )
    except VideoError as exc:
        analysis = str(exc)
    seconds = time.perf_counter() - started
    if isinstance(analysis, str):
        bar.empty()
    else:  # left in place until the next rerun, so that one sees it finished
        bar.progress(1.0, text=f"Read in {seconds:.1f} s")
    cache.clear()  # one video at a time, and never its bytes
    cache[checksum] = (analysis, seconds)
result, seconds = cache[checksum]

if isinstance(result, str):
    st.error(
        f"This video could not be analysed: {ui.plain(result)}. Nothing was saved.", icon=":material/broken_image:"
    )
    st.stop()
if result.stopped_early:
    st.warning(
        f"Reading stopped before the end: {ui.plain(result.stopped_early)}. The faces read up to there are shown below "
        "and can be saved.",
        icon=":material/warning:",
    )
if not result.has_faces:
    st.info(
        f"No face was found in this video ({result.sampled_frames} frames sampled), so there is nothing to save "
        "from it. Faces need to be roughly frontal and at least about 20 pixels wide.",
        icon=":material/face:",
    )
    st.stop()

st.markdown(videos.summary(result, seconds))
st.caption(videos.method_note(result))

subjects = ui.attempt(lambda: svc.list_subjects(user, group.id)) or []
assignable = {s.code: s.id for s in subjects if s.consent == "granted"}
ANON = "anonymous"
if len(assignable) < len(subjects):
    st.caption(
        f"{len(subjects) - len(assignable)} subject(s) of the group have no consent on record "
        "and cannot be assigned (Subjects page)."
    )

# ---------------------------------------------------------------- one row per track (person)
assignments: dict[int, int | None] = {}
for track in result.tracks:
    with st.container(border=True):
        about, curve = st.columns([1, 4])
        with about:
            st.image(track.thumbnail, caption=f"Track {track.track_id}", width=96)
            st.text(f"{track.first_s:.1f}–{track.last_s:.1f} s\n{track.n_faces} faces read")
            code = st.selectbox(
                "Subject",
                [ANON, *assignable],
                key=f"video_subject_{group.id}_{checksum[:16]}_{track.track_id}",  # the options are the group's
                help="Assign this person to a subject code, or leave anonymous",
            )
            assignments[track.track_id] = assignable.get(code)
        with curve:
            st.plotly_chart(
                figures.vad_over_video(
                    videos.track_frame(result, track.track_id),
                    title=f"Track {track.track_id}: V, A and D over the video",
                    duration_s=result.duration_s,
                ),
                key=f"video_curve_{track.track_id}",
                width="stretch",
            )
            if quality := videos.track_quality_note(result, track.track_id):
                st.text(quality)

# ---------------------------------------------------------------- save, one click
saved = st.session_state.setdefault("video_saved", {})  # checksum -> session id
if checksum in saved:
    st.info(f"This video is saved already, as session #{saved[checksum]}.")
    st.stop()
exclude_flagged = st.toggle(
    photos.EXCLUDE_FLAGGED_LABEL, value=True, key="video_exclude_flagged", help=photos.EXCLUDE_FLAGGED_HELP
)
faces, kept_assignments = videos.to_save(result, assignments, exclude_flagged)
n = len(faces)
if not faces:
    st.info("Every reading of this video has a quality warning; turn the switch above off to save them anyway.")
    st.stop()
if st.button(f"Save {n} reading{'s' if n != 1 else ''} as a new session", type="primary", key="video_save"):
    stored = ui.attempt(
        partial(
            svc.save_video_session,
            user,
            group.id,
            faces,
            kept_assignments,
            checksum,
            context_note=note.strip(),
            thumbnails_png=videos.contact_sheet_png(result.tracks),
        ),
        "Nothing was saved",
    )
    if stored is not None:
        saved[checksum] = stored.session_id
        n_assigned = sum(a is not None for a in kept_assignments.values())
        st.session_state["video_flash"] = (
            f"Saved {len(stored.reading_ids)} readings of {len(result.tracks)} track(s), {n_assigned} assigned, "
            f"as session #{stored.session_id}"
            + (" (contact sheet of the faces kept)" if stored.image_kept else "")
            + (
                ". See them in the Session explorer or on the Timelines page."
                if "timelines" in ui.ROLE_PAGES.get(user.role, ())
                else ". See them in the Session explorer."
            )
        )
        st.session_state["video_nonce"] = nonce + 1
        st.session_state["video_analyses"] = {}
        st.rerun()
