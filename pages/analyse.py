"""Analyse: photos in, one reading per face out — boxed, labelled, assigned, saved in one click."""

from functools import partial

import pandas as pd
import streamlit as st

import ui
from ui import local_time, model_note, photos, unsaved
from ui.deployment import require_analysis_allowed
from vadcore.taxonomy import DOMINANCE_HELP

user = ui.require_user()
svc = ui.service()
st.title("Analyse photos")
require_analysis_allowed(svc, user)  # the EU AI Act: off where the deployment record forbids it

if flash := st.session_state.pop("analyse_flash", None):
    st.success(flash)

# ---------------------------------------------------------------- where the readings go
left, right = st.columns(2)
with left:
    group = ui.require_group(svc, user, key="analyse_group")
sessions = {s.id: s for s in ui.attempt(lambda: svc.list_sessions(user, group.id)) or []}
NEW = 0
SHOWN_KEY = "analyse_shown"  # the photos the uploader held at this page's last run
zone = local_time.user_zone()  # the browser's zone; the server's when the browser gives none
today = photos.todays_session(list(sessions.values()), zone)
with right:  # the key changes when a session is added, so a new session comes up selected
    # Today's session by default, else a new one: yesterday's is never preselected for today's photos.
    session_id = st.selectbox(
        "Session",
        [NEW, *sessions],
        key=f"analyse_session_{group.id}_{len(sessions)}",
        index=0 if today is None else 1 + list(sessions).index(today),
        format_func=lambda i: "+ Start a new session" if i == NEW else ui.session_label(sessions[i], zone),
    )
    if today is None and sessions:
        st.caption("No session of this group started today: start one, or pick an earlier one above.")
if session_id == NEW:
    with st.form("new_session", border=False):
        note = st.text_input("Note for the new session (optional)", placeholder="e.g. maths, 2nd period")
        if st.form_submit_button("Start session", type="primary"):
            created = ui.attempt(lambda: svc.create_session(user, group.id, context_note=note.strip()))
            if created is not None:
                st.rerun()
    st.stop()

# ---------------------------------------------------------------- photos in
nonce = st.session_state.setdefault("analyse_nonce", 0)  # a new key empties the uploader after saving
files = st.file_uploader(
    "Photos — one or many",
    accept_multiple_files=True,
    key=f"uploads_{nonce}",
    max_upload_size=photos.MAX_PHOTO_MB,  # the browser refuses larger files; the page checks again below
)
st.caption(photos.limits_note())
model_note.show()  # the active model and its card's headline
inputs = [(f.name, f.getvalue(), "upload") for f in files or []]
if st.toggle("Take a photo with the camera", key="use_camera"):
    shot = st.camera_input("Camera", key=f"camera_{nonce}")
    if shot is not None:
        inputs.append(("camera photo", shot.getvalue(), "camera"))
if not inputs:
    st.session_state[SHOWN_KEY] = set()  # a fresh uploader: what an earlier visit analysed waits (ui/unsaved.py)
    st.caption(f"Readings will be saved to session #{session_id} of {ui.plain(group.name)}.")
    st.stop()

# ---------------------------------------------------------------- analysis (each distinct photo once)
# The same bytes twice (one file added twice, or under two names) are one photo: shown and saved once.
uploads, over_limits = photos.within_limits(photos.distinct(inputs))
if over_limits:
    st.warning(
        f"{len(over_limits)} file(s) were left out, over this page's limits (above). Remove some, save, then "
        "add the rest:",
        icon=":material/block:",
    )
    st.text("\n".join(over_limits))  # file names as plain text
# checksum -> (AnalysedPhoto | error text, seconds): readings and a small preview, never the decoded photo
cache = st.session_state.setdefault(unsaved.ANALYSES_KEY, {})
shown = {u.checksum for u in uploads}
# Taken out of the uploader on this visit: forgotten; photos analysed on an earlier visit still wait.
unsaved.forget(st.session_state.get(SHOWN_KEY, set()) - shown)
st.session_state[SHOWN_KEY] = shown
todo = [u for u in uploads if u.checksum not in cache]
if todo:
    bar = st.progress(0.0)
    for k, upload in enumerate(todo):
        bar.progress(k / len(todo), text=f"Analysing {ui.plain(upload.name)} ({k + 1} of {len(todo)})…")
        result = photos.analyse(upload.data)
        cache[upload.checksum] = (result, 0.0 if isinstance(result, str) else result.seconds)
    bar.empty()
# checksum -> when it was saved to this session before: such a photo is saved again only when confirmed
saved_before = ui.attempt(lambda: svc.captures_with_checksum(user, session_id, [u.checksum for u in uploads])) or {}

subjects = ui.attempt(lambda: svc.list_subjects(user, group.id)) or []
assignable = {s.code: s.id for s in subjects if s.consent == "granted"}
ANON = "anonymous"
# The face grid beside each photo; taller than this it scrolls. 420 px leaves the photo and the whole grid in view
# on a 1366×768 laptop, browser bars included.
FACES_PER_ROW, FACE_GRID_HEIGHT = 4, 420
if len(assignable) < len(subjects):
    st.caption(
        f"{len(subjects) - len(assignable)} subject(s) of {ui.plain(group.name)} have no consent on record "
        "and cannot be assigned (Subjects page)."
    )

exclude_flagged = st.toggle(
    photos.EXCLUDE_FLAGGED_LABEL, value=True, key="exclude_flagged", help=photos.EXCLUDE_FLAGGED_HELP
)
ready = []  # (upload, analysis, readings to save, their subjects)
for upload in uploads:
    checksum, name = upload.checksum, upload.name
    result, seconds = cache[checksum]
    note = photos.duplicate_note(upload)  # names as typed: escaped with ui.plain, never read as Markdown
    if isinstance(result, str):
        st.error(f"**{ui.plain(name)}** was not analysed: {ui.plain(result)}", icon=":material/broken_image:")
        if note:
            st.caption(ui.plain(note))
        continue
    if not result.has_faces:
        st.warning(
            f"**{ui.plain(name)}**: no face was found in this photo, so there is nothing to save from it. "
            "Faces need to be roughly frontal and at least about 20 pixels wide.",
            icon=":material/face:",
        )
        if note:
            st.caption(ui.plain(note))
        continue
    earlier = saved_before.get(checksum, [])
    with st.container(border=True):
        n = len(result.readings)
        st.markdown(
            f"**{ui.plain(name)}** — {n} face{'s' if n != 1 else ''} found in {seconds:.1f} s"
            + (" — already saved" if earlier else "")
        )
        if note:
            st.info(ui.plain(note), icon=":material/content_copy:")
        again = False
        if earlier:
            times = " and ".join(local_time.clock_time(t, zone) for t in earlier)
            st.warning(
                f"This photo is already saved to this session at {times}; save again? Saving it again adds its "
                "readings a second time, so these faces count twice in every mean.",
                icon=":material/content_copy:",
            )
            # The nonce empties the box after a save: a confirmation is for one save only.
            again = st.checkbox("Save this photo again", key=f"again_{nonce}_{checksum[:16]}")
        # The photo beside its faces: the grid scrolls on its own, so the photo stays in view on a laptop screen
        # (1366×768) while any of 30 faces is assigned.
        pic, grid = st.columns(2, gap="small")
        pic.image(
            result.preview,
            caption=f"{ui.plain(name)}: numbered faces with class, confidence and V/A/D on −1…+1",
            width="stretch",
        )
        grid.caption("Who is each face? Choose a subject code under its picture, or leave it anon. (no subject).")
        options = [ANON, *assignable]
        chosen = []  # each face's subject code, or ANON
        with grid.container(height=FACE_GRID_HEIGHT if n > 2 * FACES_PER_ROW else "content", border=False):
            cells = [cell for _ in range(0, n, FACES_PER_ROW) for cell in st.columns(FACES_PER_ROW, gap="small")]
            for face in range(n):
                cells[face].image(result.thumbnails[face], width="stretch")
                code = cells[face].selectbox(
                    f"Face {face + 1}",
                    options,
                    index=unsaved.chosen_index(checksum, face, options),
                    format_func=lambda code: "anon." if code == ANON else code,  # "anonymous" is cut off in a cell
                    key=unsaved.face_key(checksum, face),
                )
                unsaved.remember(checksum, face, code)
                chosen.append(code)
        if left_out := photos.left_out_note(result.readings, exclude_flagged):
            grid.caption(left_out)
        # Read-only, full width below: the quality and consistency notes (why a face is left out) need the room.
        rows = pd.DataFrame(
            {
                "Face": range(1, n + 1),
                "Class": [r.label for r in result.readings],
                "Confidence": [r.confidence for r in result.readings],
                "V": [r.valence for r in result.readings],
                "A": [r.arousal for r in result.readings],
                "D": [r.dominance for r in result.readings],
                "Note": [photos.consistency_note(r) for r in result.readings],
                "Quality": [photos.quality_note(r) for r in result.readings],
            }
        )
        st.dataframe(
            rows,
            hide_index=True,
            width="stretch",
            column_config={
                "Confidence": st.column_config.NumberColumn("Conf.", format="percent", help="Probability of the class"),
                "V": st.column_config.NumberColumn("V", format="%+.2f", help="Valence, −1…+1"),
                "A": st.column_config.NumberColumn("A", format="%+.2f", help="Arousal, −1…+1"),
                "D": st.column_config.NumberColumn(
                    "D (exp.)", format="%+.2f", help=f"Dominance, −1…+1. {DOMINANCE_HELP}"
                ),
                "Note": st.column_config.TextColumn("Note", help=photos.CONSISTENCY_HELP),
                "Quality": st.column_config.TextColumn("Quality", help=photos.QUALITY_HELP),
            },
        )
        saving = photos.to_save(result.readings, [assignable.get(code) for code in chosen], exclude_flagged)
        if (not earlier or again) and saving[0]:
            ready.append((upload, result, *saving))

# ---------------------------------------------------------------- save, one click for every photo shown
if ready:
    faces = sum(len(r[2]) for r in ready)
    label = f"Save {faces} reading{'s' if faces != 1 else ''} from {len(ready)} photo{'s' if len(ready) != 1 else ''}"
    if st.button(label, type="primary", key="save", icon=":material/save:"):
        done, failed = [], []
        for upload, result, readings, assignment in ready:
            name = upload.name
            codes = [c for c in assignment if c is not None]
            if len(codes) != len(set(codes)):
                st.error(
                    f"**{ui.plain(name)}**: one subject is assigned to two faces; nothing from this photo was saved."
                )
                failed.append(name)
                continue
            stored = ui.attempt(
                partial(
                    svc.save_capture,
                    user,
                    session_id,
                    readings,
                    assignment,
                    result.checksum,
                    upload.source,
                    image_bytes=upload.data,
                ),
                name,
            )
            if stored is None:
                failed.append(name)
            else:
                done.append(
                    f"{ui.plain(name)} ({len(stored.reading_ids)} faces{', photo kept' if stored.image_kept else ''})"
                )
        if done and not failed:
            st.session_state["analyse_flash"] = (
                f"Saved to session #{session_id}: " + "; ".join(done) + ". Open the Session explorer to see them."
            )
            st.session_state["analyse_nonce"] = nonce + 1
            unsaved.forget(shown)  # what this visit showed is saved or was passed over; earlier visits' photos wait
            st.rerun()
        elif done:
            st.success("Saved: " + "; ".join(done) + f". Not saved: {', '.join(map(ui.plain, failed))} (see above).")
elif saved_before:
    st.info(
        "Every photo shown is saved to this session already. To save one again (e.g. a deliberate re-analysis), "
        'tick its "Save this photo again" box.'
    )
