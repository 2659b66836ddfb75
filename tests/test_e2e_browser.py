"""End to end: the real app under `streamlit run`, driven in headless Chromium (Debian's
/usr/bin/chromium through the playwright package; nothing is installed or downloaded here).

Log in, upload a real photo with several faces, see the boxes, save, and find the readings in
the 3D view; then upload a real video, watch it being read, assign its one person to S-01, save it as a
session, and find her V/A/D along the video on the Timelines page. A screenshot of every page goes to
screenshots/ (git-ignored) for review.
Skips, with the reason, where chromium, playwright, the sample photos or videos, or the model are absent.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vadcore.settings import PROJECT_ROOT, SHIPPED_CHECKPOINT

from helpers import PHOTOS, VIDEOS, pilot_store, running_app

REPO = PROJECT_ROOT
PHOTO = PHOTOS / "obama_and_biden.jpg"
VIDEO = VIDEOS / "WolfgangLanger_Pexels.mp4"
CHECKPOINT = SHIPPED_CHECKPOINT
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = REPO / "screenshots"
WAIT_MS = 240_000  # generous: the CPU may be shared with a training run

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent (bash .ci/services.sh installs it)"),
    pytest.mark.skipif(not PHOTO.exists(), reason=f"sample photo {PHOTO} is absent (../shared/data is missing)"),
    pytest.mark.skipif(not CHECKPOINT.exists(), reason=f"model checkpoint {CHECKPOINT} is absent"),
]


@pytest.fixture
def server(tmp_path):
    """`streamlit run app.py` (the launcher, as the README says) on a fresh SQLite file with an admin and one class."""
    with pilot_store(tmp_path) as (url, svc, admin, group):
        svc.create_subject(admin, group.id, "S-01", "granted")
        with running_app(url, tmp_path / "streamlit.log") as base:
            yield {"url": base, "svc": svc, "admin": admin, "group": group}


def test_log_in_upload_save_and_find_the_readings_in_3d(server):
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.set_default_timeout(WAIT_MS)
        try:
            _drive(page, server)
        except Exception:
            page.screenshot(path=str(SCREENSHOTS / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()


def _settle(page) -> None:
    """Wait until the script run is over (Streamlit's "running" widget is gone) and drawn."""
    page.wait_for_timeout(500)
    page.locator("[data-testid='stStatusWidget']").wait_for(state="detached")
    page.locator("[data-testid='stSkeleton']").first.wait_for(state="detached")
    page.wait_for_timeout(1500)  # let charts finish drawing


def _shot(page, name: str) -> None:
    _settle(page)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _open(page, title: str) -> None:
    page.get_by_role("link", name=title).first.click()
    page.get_by_role("heading", name=title).first.wait_for()


def _drive(page, server) -> None:
    page.goto(server["url"])
    page.get_by_label("Username", exact=True).fill("admin")
    page.get_by_label("Password", exact=True).fill("admin-password-1")
    _shot(page, "01_login")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Analyse photos").wait_for()

    # A new session in the only class, then the photo.
    page.get_by_label("Note for the new session (optional)").fill("e2e: maths")
    page.get_by_role("button", name="Start session").click()
    page.get_by_text("Photos — one or many").wait_for()
    page.get_by_text("Readings will be saved to session").wait_for()
    page.locator("input[type=file]").first.set_input_files(str(PHOTO))
    found = page.get_by_text("faces found in")
    found.wait_for()
    n = int(found.inner_text().split("—")[1].split()[0])
    assert n >= 2, found.inner_text()
    page.locator("[data-testid='stImage'] img").first.wait_for()  # the boxed, labelled photo
    page.wait_for_timeout(2000)
    _shot(page, "02_analyse_boxes")
    page.locator("[data-testid='stImage']").first.screenshot(path=str(SCREENSHOTS / "02b_labelled_photo.png"))

    # Faces with a quality warning are left out of saving by default; here every face is saved.
    page.get_by_text("Leave out readings with a quality warning when saving").click()
    _settle(page)
    page.get_by_role("button", name=f"Save {n} readings from 1 photo").click()
    page.get_by_text(re.compile(r"^Saved to session #\d+:")).wait_for()
    saved = server["svc"].readings_frame(server["admin"], group_id=server["group"].id)
    assert len(saved) == n

    # The 3D view holds the saved readings (read back from the drawn Plotly figure).
    _open(page, "Session explorer")
    page.locator(".js-plotly-plot").first.wait_for()
    points = page.evaluate("""() => {
        const gd = document.querySelector('.js-plotly-plot');  // _fullData: arrays as drawn (decoded)
        return gd._fullData.filter(t => t.type === 'scatter3d' && t.mode === 'markers')
                           .reduce((sum, t) => sum + t.x.length, 0);
    }""")
    assert points == n
    _shot(page, "03_explorer_3d")
    page.get_by_role("tab", name="2D projections").click()
    _shot(page, "04_explorer_2d")
    page.get_by_role("tab", name="Class mix").click()
    _shot(page, "05_explorer_class_mix")

    # A reading of S-01, so that the timeline has data: the engine on another real photo, saved through
    # the service into the same session.
    from vadcore.analysis import analyse_photo
    from vadcore.detect import FaceDetector
    from vadcore.inference import EmotionPredictor

    subject = server["svc"].list_subjects(server["admin"], server["group"].id)[0]
    single = analyse_photo((PHOTOS / "biden.jpg").read_bytes(), EmotionPredictor(), FaceDetector())
    assert len(single.readings) == 1
    server["svc"].save_capture(
        server["admin"], int(saved["session_id"].iloc[0]), single.readings, [subject.id], single.checksum, "upload"
    )
    for link, heading, name in (
        ("Timelines", "Timelines", "06_timelines"),
        ("Subjects", "Subjects", "07_subjects"),
        ("Outcomes", "Outcomes and risk predictor", "08_outcomes"),
        ("Admin", "Admin", "09_admin"),
        ("My account", "My account", "10_account"),
    ):
        page.get_by_role("link", name=link).first.click()
        page.get_by_role("heading", name=heading).first.wait_for()
        _shot(page, name)

    # ------------------------------------------------------------ a video, read and saved as a session
    if not VIDEO.exists():
        pytest.skip(f"the photo flow passed; the sample video {VIDEO} is absent")
    _open(page, "Analyse a video")
    note = page.get_by_label("Note for the new session (optional)")
    note.fill("e2e: reading circle")
    note.press("Enter")  # a text input applies its value on Enter (or when it loses focus)
    _settle(page)
    page.locator("input[type=file]").first.set_input_files(str(VIDEO))
    page.locator("[data-testid='stProgress']").first.wait_for()  # fed by the analysis as it reads
    page.get_by_text(re.compile(r"^40 faces read in 40 sampled frames")).wait_for()
    page.locator(".js-plotly-plot").first.wait_for()  # the track's V/A/D over the video
    times = page.evaluate("""() => {
        const gd = document.querySelector('.js-plotly-plot');
        return [gd._fullData.length, gd._fullData[0].x.length, gd._fullLayout.xaxis3.title.text];
    }""")
    assert times == [3, 40, "Video time (s)"], times
    _shot(page, "11_analyse_video")

    # The one track goes to S-01: the track's Subject box is a combobox; the arrow key opens its list.
    subject_box = page.get_by_role("combobox", name="Subject")
    subject_box.click()
    subject_box.press("ArrowDown")
    page.get_by_role("option", name="S-01").click()
    _settle(page)
    assert page.get_by_role("combobox", name="Subject").input_value() == "S-01"
    page.get_by_text("Leave out readings with a quality warning when saving").click()  # save all 40
    _settle(page)
    page.get_by_role("button", name="Save 40 readings as a new session").click()
    page.get_by_text(re.compile(r"^Saved 40 readings of 1 track\(s\), 1 assigned, as session #\d+")).wait_for()
    video = server["svc"].readings_frame(server["admin"], subject_id=subject.id).dropna(subset=["frame_time_s"])
    assert len(video) == 40 and video["track_id"].nunique() == 1 and video["session_id"].nunique() == 1
    notes = {s.id: s.context_note for s in server["svc"].list_sessions(server["admin"])}
    assert notes[int(video["session_id"].iloc[0])] == "e2e: reading circle"
    _shot(page, "11b_video_saved")

    # Timelines: S-01 (the only subject) has the video session, with her V/A/D along the video.
    _open(page, "Timelines")
    page.get_by_role("heading", name="Within a video session").wait_for()
    page.get_by_text(re.compile(r"^40 readings of this subject in the video")).wait_for()
    _settle(page)
    within = page.evaluate("""() => {
        const plots = [...document.querySelectorAll('.js-plotly-plot')];
        const gd = plots[plots.length - 1];
        return [gd._fullData[0].x.length, gd._fullLayout.xaxis3.title.text];
    }""")
    assert within == [40, "Video time (s)"], within
    page.get_by_role("heading", name="Within a video session").scroll_into_view_if_needed()
    _shot(page, "12_timelines_video")
