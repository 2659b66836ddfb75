"""What one user's photos cost the server: 20 photos analysed on one Analyse page (the app driven by AppTest,
real model, real photos) keep the process's peak memory under a bound and leave no decoded picture in the session;
what the page holds (readings and previews, within the bound) stays as unsaved work when the user opens another page.

The peak is the kernel's high-water mark (VmHWM), reset just before the upload (Linux /proc/self/clear_refs),
so what earlier tests in this process used does not count. The figures are printed (pytest -s shows them).
"""

from __future__ import annotations

import dataclasses
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageOps
from streamlit.testing.v1 import AppTest

from vadcore.settings import PROJECT_ROOT, SHIPPED_CHECKPOINT

from helpers import record_lawful_deployment

APP = str(PROJECT_ROOT / "main.py")
PASSWORD = "teacher-password-1"

# Measured on the 20 photos below (9.9 MiB of uploads; 2 cores, CPU), after one warm-up photo: peak RSS growth
# 273 MiB, mostly the largest photo (24 megapixels: 98 MiB decoded as Pillow holds it, plus its shrunk copy)
# while it is read; the page then holds 1.9 MiB (readings and previews). The page as it was (every decoded
# photo and its full-size labelled copy kept) measured 504 MiB peak, 163 MiB of pictures held, so this bound
# fails it.
PEAK_GROWTH_BOUND_MIB = 400
HELD_BOUND_MIB = 8  # what the page keeps for 20 photos: readings and previews


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} is not in /proc/self/status")


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    except OSError:
        return False
    return True


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def twenty_photos(photos: Path) -> list[tuple[str, bytes, str]]:
    """The nine sample photos and eleven variants of them (mirrored, re-encoded, enlarged, turned)."""
    files = [
        (p.name, p.read_bytes(), "image/png" if p.suffix == ".png" else "image/jpeg") for p in sorted(photos.iterdir())
    ]
    open_ = {p.name: Image.open(p).convert("RGB") for p in photos.iterdir()}
    for name in ("biden.jpg", "obama-1080p.jpg", "obama_and_biden.jpg", "two_people.jpg", "kit_with_rose.jpg"):
        files.append((f"mirrored-{name}", encode(ImageOps.mirror(open_[name]), "JPEG", quality=90), "image/jpeg"))
    files.append(("obama-1080p.png", encode(open_["obama-1080p.jpg"], "PNG"), "image/png"))
    files.append(("webp-lin.webp", encode(open_["lin-manuel-miranda.png"], "WEBP", quality=90), "image/webp"))
    files.append(("q70-partial.jpg", encode(open_["obama_partial_face.jpg"], "JPEG", quality=70), "image/jpeg"))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways, shown upright
    sideways = open_["two_people.jpg"].transpose(Image.Transpose.ROTATE_90)
    files.append(("sideways.jpg", encode(sideways, "JPEG", quality=90, exif=exif.tobytes()), "image/jpeg"))
    # Two large ones: 24 megapixels (beyond the analysis size: read on a shrunk copy) and 9 megapixels.
    big = open_["obama_and_biden.jpg"].resize((6000, 4284), Image.Resampling.BILINEAR)
    files.append(("big-24mp.jpg", encode(big, "JPEG", quality=90), "image/jpeg"))
    files.append(
        ("big-9mp.jpg", encode(open_["obama-1080p.jpg"].resize((4000, 2250)), "JPEG", quality=90), "image/jpeg")
    )
    assert len(files) == 20 and len({data for _, data, _ in files}) == 20
    return files


def pictures_in(value: Any, path: str = "") -> list[str]:
    """Where in `value` a decoded picture (numpy array or PIL image) sits."""
    if isinstance(value, (np.ndarray, Image.Image)):
        return [f"{path}: {type(value).__name__}"]
    if isinstance(value, dict):
        return [hit for k, v in value.items() for hit in pictures_in(v, f"{path}[{k!r}]")]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [hit for i, v in enumerate(value) for hit in pictures_in(v, f"{path}[{i}]")]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [
            hit for f in dataclasses.fields(value) for hit in pictures_in(getattr(value, f.name), f"{path}.{f.name}")
        ]
    return []


@pytest.fixture
def teacher_app(tmp_path, monkeypatch):
    from db import init_db, make_engine
    from db.services import Service

    if not SHIPPED_CHECKPOINT.exists():
        pytest.skip(f"model checkpoint {SHIPPED_CHECKPOINT} is absent")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    init_db(engine)
    svc = Service(engine)
    admin = svc.create_first_admin("admin", "admin-password-1", "Ada Admin")
    record_lawful_deployment(svc, admin)
    teacher = svc.create_user(admin, "teacher", PASSWORD, "teacher", "Tom Teacher")
    klass = svc.create_group(admin, "Class 4B", "class")
    svc.grant_access(admin, teacher.id, klass.id)
    svc.create_session(admin, klass.id, context_note="memory test")

    at = AppTest.from_file(APP, default_timeout=900).run()
    at.text_input(key="login_username").input("teacher")
    at.text_input(key="login_password").input(PASSWORD)
    at.button(key="FormSubmitter:login-Log in").click().run()
    assert not at.exception, at.exception
    at.switch_page("pages/analyse.py").run()
    assert not at.exception, at.exception
    yield at
    engine.dispose()


@pytest.mark.slow
def test_twenty_photos_on_one_page_stay_within_the_memory_bound(teacher_app, photos: Path) -> None:
    at = teacher_app
    files = twenty_photos(photos)
    upload_mib = sum(len(data) for _, data, _ in files) / 2**20
    # One photo first, so that what the first analysis sets up for good (the detector, the model's and the
    # allocators' working memory) is in the baseline; it is not among the twenty, so the page lets it go.
    warm_up = encode(Image.open(photos / "obama-240p.jpg").convert("L"), "PNG")
    at.file_uploader(key="uploads_0").set_value(("warm-up.png", warm_up, "image/png")).run()
    assert not at.exception and len(at.session_state["analyses"]) == 1
    if not _reset_peak():
        pytest.skip("needs Linux's /proc/self/clear_refs to measure the peak")
    before = _rss_kib("VmRSS")
    at.file_uploader(key="uploads_0").set_value(files).run()
    peak_growth = (_rss_kib("VmHWM") - before) / 1024
    after_growth = (_rss_kib("VmRSS") - before) / 1024
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    # every photo with a face is shown under its "N faces found" line (the partial face may not be found)
    assert sum(" found in " in m.value for m in at.markdown) >= 18

    held = at.session_state["analyses"]
    assert len(held) == 20
    held_mib = len(pickle.dumps(held)) / 2**20
    state = at.session_state.to_dict()
    print(
        f"\n20 photos, {upload_mib:.1f} MiB uploaded: peak RSS growth {peak_growth:.0f} MiB "
        f"(bound {PEAK_GROWTH_BOUND_MIB}), RSS growth after the run {after_growth:.0f} MiB, "
        f"held by the page {held_mib:.2f} MiB (bound {HELD_BOUND_MIB})"
    )
    assert pictures_in(state) == [], "no decoded picture is kept in the session"
    assert held_mib < HELD_BOUND_MIB
    assert peak_growth < PEAK_GROWTH_BOUND_MIB

    # Unsaved work: leaving the page keeps what it held (no more than measured above), until saved or discarded.
    at.switch_page("pages/explorer.py").run()
    assert not at.exception, at.exception
    assert len(at.session_state["analyses"]) == 20


def test_the_page_states_its_limits(teacher_app) -> None:
    from ui import photos

    note = "\n".join(str(c.value) for c in teacher_app.caption)
    assert f"Up to {photos.MAX_BATCH_PHOTOS} photos at once" in note and "64 megapixels" in note
    assert "HEIF" in note or "HEIC" in note


def test_more_photos_than_the_cap_are_left_out_with_a_message(teacher_app, monkeypatch) -> None:
    # Blank pictures: no face, so nothing is read, but each one counts against the cap.
    from ui import photos

    monkeypatch.setattr(photos, "MAX_BATCH_PHOTOS", 3)
    files = [(f"blank-{i}.png", encode(Image.new("RGB", (64, 48), (i, 90, 90)), "PNG"), "image/png") for i in range(5)]
    teacher_app.file_uploader(key="uploads_0").set_value(files).run()
    assert not teacher_app.exception, teacher_app.exception
    assert "2 file(s) were left out" in "\n".join(str(w.value) for w in teacher_app.warning)
    listed = "\n".join(str(t.value) for t in teacher_app.text)
    assert "blank-3.png: over the limit of 3 photos at once" in listed and "blank-4.png" in listed
    assert len(teacher_app.session_state["analyses"]) == 3


def test_opening_another_page_drops_what_a_page_holds_only_while_open_and_keeps_unsaved_readings() -> None:
    from ui import registry

    state = {"analyses": {"c": 1}, "video_analyses": {"v": 2}, "user": "u"}
    assert registry.release_held("Analyse photos", state) == ["video_analyses"]
    assert set(state) == {"analyses", "user"}
    state["video_analyses"] = {"v": 2}
    assert registry.release_held("Session explorer", state) == ["video_analyses"]
    assert set(state) == {"analyses", "user"}  # the Analyse page's unsaved readings and the log-in stay
