"""Lawful deployment (issue 11): the rule of the EU AI Act's Art. 5(1)(f) as db.deployment states it, the service
refusing to store readings while it forbids analysis, the deployment record, the notice and consent sheet, the
record of processing, and the pages driven with AppTest. Real databases (SQLite, and PostgreSQL where it answers),
the real app; nothing mocked (the AppTests record what the download buttons hand to Streamlit's media store)."""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import UTC, datetime

import pytest

from db.deployment import analysis_allowed, model_in_use, notice_sheet, processing_record_markdown, read_model_figures
from db.enums import DEPLOYMENT_PURPOSES, DEPLOYMENT_SETTINGS, JURISDICTIONS
from db.errors import InvalidInput, PermissionDenied
from db.views import DeploymentInfo, ModelVersionInfo
from vadcore.settings import SHIPPED_CHECKPOINT

from helpers import PASSWORDS, app_log_in, record_lawful_deployment

CHECKSUM = hashlib.sha256(b"a classroom photo").hexdigest()
SHIPPED_VERSION = json.loads(SHIPPED_CHECKPOINT.with_suffix(".json").read_text())["model_version"]


def record(jurisdiction="eu", setting="education", purpose="education", protocol_ref="") -> DeploymentInfo:
    return DeploymentInfo(
        "Hill School", "dpo@hill.example", jurisdiction, setting, purpose, protocol_ref, "admin", datetime.now(UTC)
    )


# ---------------------------------------------------------------- the rule


def test_without_a_record_nothing_may_be_analysed():
    verdict = analysis_allowed(None)
    assert not verdict.allowed
    assert "administrator must record the deployment first" in verdict.reason
    assert "Art. 5(1)(f)" in verdict.article


@pytest.mark.parametrize("setting", ["education", "workplace"])
@pytest.mark.parametrize("purpose", ["education", "other"])
def test_schools_and_workplaces_in_the_eu_are_refused_without_a_medical_or_safety_purpose(setting, purpose):
    verdict = analysis_allowed(record("eu", setting, purpose))
    assert not verdict.allowed
    assert verdict.article.startswith("EU AI Act, Art. 5(1)(f)")
    assert "medical or safety" in verdict.reason
    assert ("workplaces" if setting == "workplace" else "education institutions") in verdict.reason
    assert verdict.obligations == ()


@pytest.mark.parametrize("setting", ["education", "workplace"])
@pytest.mark.parametrize("purpose", ["medical", "safety"])
def test_the_medical_or_safety_exception_allows_it_and_says_it_is_narrow(setting, purpose):
    verdict = analysis_allowed(record("eu", setting, purpose))
    assert verdict.allowed
    assert "exception" in verdict.article and "narrow" in verdict.reason
    duties = " ".join(verdict.obligations)
    assert "Art. 50(3)" in duties and "Annex III 1(c)" in duties and "Art. 35" in duties


def test_research_needs_a_protocol_reference_everywhere():
    for jurisdiction, setting in itertools.product(JURISDICTIONS, DEPLOYMENT_SETTINGS):
        verdict = analysis_allowed(record(jurisdiction, setting, "research", protocol_ref="  "))
        assert not verdict.allowed and "protocol" in verdict.reason, (jurisdiction, setting)
        assert "Art. 2(6)" in verdict.article


def test_research_in_a_school_with_a_protocol_is_allowed_as_a_narrow_exemption_to_check_with_the_dpo():
    verdict = analysis_allowed(record("eu", "education", "research", protocol_ref="ETH-2026-014"))
    assert verdict.allowed
    assert "Art. 2(6)" in verdict.article and "Art. 5(1)(f)" in verdict.article
    assert "narrow" in verdict.reason and "data-protection officer" in verdict.reason
    assert "ETH-2026-014" not in verdict.reason  # typed text stays out of texts pages render as they are


@pytest.mark.parametrize("setting", ["healthcare", "research", "other"])
def test_other_eu_settings_are_allowed_as_high_risk_with_the_duties_listed(setting):
    verdict = analysis_allowed(record("eu", setting, "medical" if setting == "healthcare" else "other"))
    assert verdict.allowed and "Annex III 1(c)" in verdict.article
    duties = " ".join(verdict.obligations)
    assert "Art. 50(3)" in duties and "Art. 35" in duties and "Art. 9" in duties
    assert ("Analyse patients only" in duties) == (setting == "healthcare")


def test_outside_the_eu_education_is_allowed_and_the_reach_of_the_act_is_explained():
    verdict = analysis_allowed(record("outside_eu", "education", "education"))
    assert verdict.allowed and "Art. 2(1)(c)" in verdict.article
    assert any("Art. 3(2)" in duty for duty in verdict.obligations)


def test_every_combination_follows_the_articles():
    """The whole table, against the rule as the articles state it (independently of the implementation's order)."""
    for jurisdiction, setting, purpose, protocol in itertools.product(
        JURISDICTIONS, DEPLOYMENT_SETTINGS, DEPLOYMENT_PURPOSES, ("", "P-1")
    ):
        prohibited = jurisdiction == "eu" and setting in ("education", "workplace")
        excepted = purpose in ("medical", "safety") or (purpose == "research" and protocol)
        expected = not (purpose == "research" and not protocol) and (not prohibited or excepted)
        verdict = analysis_allowed(record(jurisdiction, setting, purpose, protocol))
        assert verdict.allowed == bool(expected), (jurisdiction, setting, purpose, protocol)
        assert verdict.reason and verdict.article
        assert bool(verdict.obligations) == verdict.allowed


def test_a_record_with_an_unknown_value_refuses():
    assert not analysis_allowed(record("eu", "prison", "safety")).allowed


# ---------------------------------------------------------------- the service enforces it


@pytest.fixture
def school(service, make_reading):
    """An administrator and a teacher with a class, a consenting pupil and a session; no deployment recorded."""
    admin = service.create_first_admin("head", "head-password-1")
    teacher = service.create_user(admin, "teacher", "teacher-password-1", "teacher")
    klass = service.create_group(admin, "7a", "class", keep_images=True)
    service.grant_access(admin, teacher.id, klass.id)
    pupil = service.create_subject(admin, klass.id, "S-01", consent="granted")
    meeting = service.create_session(admin, klass.id)
    return {"admin": admin, "teacher": teacher, "class": klass, "pupil": pupil, "session": meeting}


def save(service, school, make_reading, who="teacher"):
    return service.save_capture(
        school[who], school["session"].id, [make_reading()], [school["pupil"].id], CHECKSUM, "upload"
    )


def video_faces(make_reading):
    from vadcore.video import VideoFace

    return [VideoFace(frame_index=i, time_s=0.5 * i, track_id=1, reading=make_reading()) for i in range(3)]


def test_no_record_refuses_every_save_and_audits_the_refusal(service, school, make_reading):
    with pytest.raises(PermissionDenied, match="record the deployment first"):
        save(service, school, make_reading)
    with pytest.raises(PermissionDenied, match="Art. 5"):
        service.save_video_session(school["teacher"], school["class"].id, video_faces(make_reading), {}, CHECKSUM)
    assert service.readings_frame(school["admin"]).empty
    denied = service.audit_log(school["admin"]).query("action == 'denied'")
    assert denied["detail"].str.contains("analysis is switched off").sum() == 2


def test_an_eu_school_without_a_medical_or_safety_purpose_cannot_store_readings(service, school, make_reading):
    service.record_deployment(school["admin"], "Hill School", "dpo@hill.example", "eu", "education", "education")
    for who in ("teacher", "admin"):
        with pytest.raises(PermissionDenied, match=r"Art\. 5\(1\)\(f\)"):
            save(service, school, make_reading, who)
    with pytest.raises(PermissionDenied, match="education institutions"):
        service.save_video_session(school["teacher"], school["class"].id, video_faces(make_reading), {}, CHECKSUM)
    assert service.readings_frame(school["admin"]).empty
    assert not service.analysis_verdict(school["teacher"]).allowed


@pytest.mark.parametrize(
    ("jurisdiction", "setting", "purpose"),
    [("eu", "healthcare", "medical"), ("outside_eu", "education", "education"), ("eu", "education", "safety")],
)
def test_a_lawful_record_lets_readings_be_stored(service, school, make_reading, jurisdiction, setting, purpose):
    service.record_deployment(school["admin"], "Hill", "dpo@hill.example", jurisdiction, setting, purpose)
    result = save(service, school, make_reading)
    assert len(result.reading_ids) == 1
    video = service.save_video_session(
        school["teacher"], school["class"].id, video_faces(make_reading), {1: school["pupil"].id}, CHECKSUM
    )
    assert len(video.reading_ids) == 3
    assert len(service.readings_frame(school["teacher"])) == 4


def test_a_prohibiting_record_switches_analysis_off_but_keeps_stored_readings_readable(service, school, make_reading):
    record_lawful_deployment(service, school["admin"])
    save(service, school, make_reading)
    service.record_deployment(school["admin"], "Hill School", "dpo@hill.example", "eu", "workplace", "other")
    with pytest.raises(PermissionDenied):
        save(service, school, make_reading)
    assert len(service.readings_frame(school["teacher"])) == 1


def test_simulated_captures_infer_nothing_from_anyone_and_need_no_record(service, school, make_reading):
    from db.demo import load_demo_cohort, simulate_cohort

    group_id = load_demo_cohort(service, school["admin"], simulate_cohort(6, sessions_per_period=1))
    assert not service.readings_frame(school["admin"], group_id=group_id).empty
    with pytest.raises(PermissionDenied):  # and a real photo still cannot be saved
        save(service, school, make_reading)


# ---------------------------------------------------------------- the record


def test_only_an_administrator_records_the_deployment_and_it_replaces_the_last(service, school):
    assert service.deployment(school["teacher"]) is None
    with pytest.raises(PermissionDenied):
        service.record_deployment(school["teacher"], "Hill", "me", "outside_eu", "education", "education")
    first = service.record_deployment(school["admin"], " Hill School ", "dpo@hill.example", "eu", "education", "safety")
    assert first.organisation == "Hill School" and first.recorded_by == "head"
    service.record_deployment(school["admin"], "Hill Clinic", "dpo@hill.example", "eu", "healthcare", "medical")
    current = service.deployment(school["teacher"])
    assert current is not None and (current.organisation, current.setting) == ("Hill Clinic", "healthcare")
    log = service.audit_log(school["admin"]).query("action == 'record_deployment'")
    assert len(log) == 2 and log["detail"].str.contains("analysis_allowed=True").all()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (("Hill", "dpo", "mars", "education", "medical", ""), "jurisdiction"),
        (("Hill", "dpo", "eu", "prison", "medical", ""), "setting"),
        (("Hill", "dpo", "eu", "education", "grading", ""), "purpose"),
        (("Hill", "dpo", "eu", "education", "research", " "), "protocol"),
        (("  ", "dpo", "eu", "healthcare", "medical", ""), "organisation"),
        (("Hill", "", "eu", "healthcare", "medical", ""), "contact"),
        (("Hill\u202e", "dpo", "eu", "healthcare", "medical", ""), "invisible"),
        (("H" * 201, "dpo", "eu", "healthcare", "medical", ""), "200"),
    ],
)
def test_a_bad_record_is_refused_with_what_is_wrong(service, school, fields, message):
    with pytest.raises(InvalidInput, match=message):
        service.record_deployment(school["admin"], *fields)
    assert service.deployment(school["admin"]) is None


# ---------------------------------------------------------------- notice sheet and record of processing


def test_the_notice_sheet_says_what_is_read_kept_how_long_who_sees_it_and_how_to_withdraw(service, school):
    service.record_deployment(school["admin"], "Hill School", "dpo@hill.example", "eu", "education", "safety")
    service.set_group_policy(school["admin"], school["class"].id, retention_days=90)
    sheet = service.notice_sheet(school["teacher"], school["class"].id)
    for needle in (
        "7a",
        "Hill School",
        "dpo@hill.example",
        "valence",
        "does **not** recognise who you are",
        "photos themselves are kept",  # this class keeps them
        "for 90 days",
        "1 teacher",
        "1 administrator",
        "withdraw",
        "Art. 50(3)",
        "not legal advice",
        SHIPPED_VERSION,
        "dominance is experimental",
    ):
        assert needle in sheet, needle
    outsider = service.create_user(school["admin"], "other", "other-password-1", "teacher")
    with pytest.raises(PermissionDenied):
        service.notice_sheet(outsider, school["class"].id)


def test_the_notice_sheet_without_a_record_or_photos_says_so():
    sheet = notice_sheet(None, {"name": "4B", "kind": "class", "keep_images": False, "retention_days": None}, {}, None)
    assert "not recorded yet" in sheet and "are not kept" in sheet and "until they are deleted" in sheet
    assert "was not measured here" in sheet


def test_the_record_of_processing_lists_purposes_data_retention_access_and_the_model(service, school, make_reading):
    admin = school["admin"]
    with pytest.raises(PermissionDenied):
        service.processing_record(school["teacher"])
    record_lawful_deployment(service, admin)
    save(service, school, make_reading)
    service.set_group_policy(admin, school["class"].id, retention_days=30)
    rec = service.processing_record(admin)
    json.dumps(rec)  # plain types only
    assert rec["controller"]["organisation"] == "Test Clinic" and rec["verdict"]["allowed"]
    (group,) = rec["groups"]
    assert group["name"] == "7a" and group["retention"] == "30 days" and group["photos_kept"]
    assert (group["subjects"], group["consent_granted"], group["readings"]) == (1, 1, 1)
    assert group["access"] == {"teacher": 1}
    assert rec["accounts"] == {"admin": 1, "teacher": 1, "psychologist": 0}
    assert rec["model"]["model_version"] == SHIPPED_VERSION and "%" in rec["model"]["accuracy"]
    assert rec["model"]["versions_in_readings"] == ["test-1"]
    text = processing_record_markdown(rec)
    for needle in ("Test Clinic", "| 7a |", "30 days", SHIPPED_VERSION, "Art. 35", "not legal advice"):
        assert needle in text, needle
    assert len(service.audit_log(admin).query("action == 'processing_record'")) == 1


def test_model_figures_come_from_the_file_beside_the_checkpoint(tmp_path):
    figures = read_model_figures(SHIPPED_CHECKPOINT)
    assert figures is not None and figures["model_version"] == SHIPPED_VERSION
    assert 0.6 < figures["ten_crop_accuracy"]["PrivateTest"] < 0.8
    assert read_model_figures(tmp_path / "unmeasured.pt") is None


def registered(path, report_version: str, version: str = "v+0123456789ab") -> ModelVersionInfo:
    now = datetime.now(UTC)
    report = {"model_version": report_version, "accuracy": 0.6}
    return ModelVersionInfo(1, version, str(path), "0" * 64, now, "", True, True, now, "", report)


def test_the_card_figures_describe_only_the_shipped_model_and_the_version_is_the_active_ones(tmp_path):
    shipped = model_in_use(
        registered(SHIPPED_CHECKPOINT, SHIPPED_VERSION, f"{SHIPPED_VERSION}+abc"), SHIPPED_CHECKPOINT
    )
    assert shipped.version == f"{SHIPPED_VERSION}+abc" and shipped.figures is not None
    assert shipped.headline.startswith("Model card: ") and "deduplicated PrivateTest" in shipped.headline
    assert model_in_use(None, SHIPPED_CHECKPOINT).figures is not None  # none active: the shipped one serves
    for other in (
        registered(tmp_path / "retrained.pt", "retrained-1"),  # another file
        registered(SHIPPED_CHECKPOINT, "retrained-1"),  # another model written over the shipped file
    ):
        in_use = model_in_use(other, SHIPPED_CHECKPOINT)
        assert in_use.version == "v+0123456789ab" and in_use.figures is None
        assert in_use.headline == "Not the shipped model: see Admin → Model for its check."


def test_a_card_without_a_readable_headline_says_so(tmp_path):
    card = json.loads(SHIPPED_CHECKPOINT.with_suffix(".json").read_text())
    for broken in (None, "67%", {"accuracy": 0.67}, {"accuracy": 0.67, "interval": [0.6]}):
        (tmp_path / "model.json").write_text(json.dumps(card | {"headline": broken}))
        in_use = model_in_use(None, tmp_path / "model.pt")
        assert in_use.figures is not None and in_use.figures["headline"] is None
        assert in_use.headline == "The model card states no headline figure."


@pytest.mark.slow  # registers and checks a model on 70 real faces
def test_the_notice_and_the_record_quote_the_active_model_not_the_configured_file(service, school, tmp_path):
    import torch

    from vadcore.checkpoint import read_checkpoint

    admin = school["admin"]
    record_lawful_deployment(service, admin)
    payload = read_checkpoint(SHIPPED_CHECKPOINT)  # the shipped weights as float32: other bytes, same readings
    state = {k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
    torch.save(payload | {"state_dict": state, "model_version": "retrained-2"}, tmp_path / "retrained.pt")
    service.active_model()
    other = service.register_model(admin, tmp_path / "retrained.pt")
    service.activate_model(admin, other.id)

    rec = service.processing_record(admin)
    assert rec["model"]["model_version"] == other.version and other.version.startswith("retrained-2+")
    assert rec["model"]["accuracy"].startswith("not measured here (not the shipped model")
    sheet = service.notice_sheet(admin, school["class"].id)
    assert f"The model in use (version {other.version}) was not measured here" in sheet
    assert SHIPPED_VERSION not in sheet

    shipped = service.rollback_model(admin)
    rec = service.processing_record(admin)
    assert rec["model"]["model_version"] == shipped.version and "%" in rec["model"]["accuracy"]
    assert f"the model (version {shipped.version})" in service.notice_sheet(admin, school["class"].id)


# ---------------------------------------------------------------- the pages


@pytest.fixture
def eu_school(app_service):
    """The app's database: an EU school recorded for education (prohibited), a teacher with a class."""
    svc = app_service
    admin = svc.create_first_admin("admin", PASSWORDS["admin"], "Ada Admin")
    teacher = svc.create_user(admin, "teacher", PASSWORDS["teacher"], "teacher")
    klass = svc.create_group(admin, "Class 4B", "class")
    svc.grant_access(admin, teacher.id, klass.id)
    svc.create_subject(admin, klass.id, "S-01", "granted")
    svc.record_deployment(admin, "Hill *School*", "dpo@hill.example", "eu", "education", "education")
    yield {"svc": svc, "admin": admin, "teacher": teacher, "class": klass}


def login(username: str):
    return app_log_in(username)


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def test_an_eu_school_recorded_for_education_cannot_analyse_photos_or_videos(eu_school):
    at = login("teacher")
    for page, title in (("pages/analyse.py", "Analyse photos"), ("pages/video.py", "Analyse a video")):
        at.switch_page(page).run()
        assert not at.exception, at.exception
        assert at.title[0].value == title
        assert "Analysis is switched off" in texts(at.error) and "Art. 5(1)(f)" in texts(at.caption)
        assert len(at.get("file_uploader")) == 0 and len(at.get("camera_input")) == 0
    at.switch_page("pages/explorer.py").run()  # stored data stay readable
    assert not at.exception and not at.error, texts(at.error)


def test_the_subjects_page_offers_the_groups_notice_sheet(eu_school, downloads):
    at = login("teacher")
    at.switch_page("pages/subjects.py").run()
    assert not at.exception, at.exception
    assert f"notice_sheet_{eu_school['class'].id}" in {b.key for b in at.get("download_button")}
    sheet = downloads[f"vadlens_notice_group_{eu_school['class'].id}.md"].decode()
    assert "Class 4B" in sheet and "Hill *School*" in sheet and SHIPPED_VERSION in sheet
    assert "analysis switched off" in sheet


def test_the_admin_records_the_deployment_and_downloads_the_record_of_processing(eu_school, downloads):
    at = login("admin")
    at.switch_page("pages/admin.py").run()
    assert not at.exception, at.exception
    assert "Organisation: Hill *School*" in texts(at.text)  # as typed, never as markdown
    assert "Art. 5(1)(f)" in texts(at.error)
    at.selectbox(key="deployment_setting").select("healthcare")
    at.selectbox(key="deployment_purpose").select("medical")
    at.button(key="FormSubmitter:deployment-Record deployment").click().run()
    assert not at.exception, at.exception
    assert eu_school["svc"].analysis_verdict(eu_school["teacher"]).allowed
    assert "Analysis allowed" in texts(at.success)

    at.button(key="prepare_processing_record").click().run()
    assert {"processing_record_md", "processing_record_json"} <= {b.key for b in at.get("download_button")}
    markdown = downloads["vadlens_record_of_processing.md"].decode()
    assert "Class 4B" in markdown and SHIPPED_VERSION in markdown and "healthcare" in markdown
    record = json.loads(downloads["vadlens_record_of_processing.json"])
    assert record["groups"][0]["name"] == "Class 4B"
    assert record["model"]["model_version"].startswith(f"{SHIPPED_VERSION}+")  # the active one, registered

    eu_school["svc"].create_session(eu_school["teacher"], eu_school["class"].id)
    teacher = login("teacher")  # analysis is on again for the teacher
    teacher.switch_page("pages/analyse.py").run()
    assert not teacher.exception and not teacher.error, texts(teacher.error)
    assert len(teacher.get("file_uploader")) == 1


def test_on_first_start_the_admin_is_sent_to_record_the_deployment_and_must_choose_each_answer(tmp_path, monkeypatch):
    from db import init_db, make_engine
    from db.services import Service

    url = f"sqlite:///{tmp_path / 'first.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    engine = make_engine(url)
    init_db(engine)
    svc = Service(engine)
    admin = svc.create_first_admin("admin", PASSWORDS["admin"])
    at = login("admin")
    at.switch_page("pages/analyse.py").run()
    assert "record the deployment first" in texts(at.error) and "Deployment tab" in texts(at.info)
    at.switch_page("pages/admin.py").run()
    assert not at.exception, at.exception
    assert "Record the deployment first" in texts(at.warning)
    at.text_input(key="deployment_organisation").input("Riverside Clinic")
    at.text_input(key="deployment_contact").input("dpo@riverside.example")
    at.button(key="FormSubmitter:deployment-Record deployment").click().run()
    assert "jurisdiction must be one of" in texts(at.error)  # nothing is preselected: no answer by default
    assert svc.deployment(admin) is None
    at.selectbox(key="deployment_jurisdiction").select("eu")
    at.selectbox(key="deployment_setting").select("healthcare")
    at.selectbox(key="deployment_purpose").select("medical")
    at.button(key="FormSubmitter:deployment-Record deployment").click().run()
    assert not at.exception, at.exception
    assert "Record the deployment first" not in texts(at.warning)
    recorded = svc.deployment(admin)
    assert recorded is not None and recorded.organisation == "Riverside Clinic"
    engine.dispose()
