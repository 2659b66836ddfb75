"""What the store must forget: a deleted subject's kept photos, readings, outcomes and notes; captures, sessions,
periods and groups deleted whole (no orphan rows, administrators only, audited); withdrawn consent hiding a
subject from readings, export and training; and each group's retention policy enforced by the purge."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from db.enums import RETENTION_DAYS_MAX
from db.services import InvalidInput, PermissionDenied
from vadcore.features import AlertRule

TABLES = (
    "groups",
    "group_access",
    "subjects",
    "sessions",
    "captures",
    "face_readings",
    "outcomes",
    "periods",
    "timeline_notes",
    "alert_rules",
)
# Every foreign key of pilot data, as (child table, column, parent table): a row whose parent is gone is an orphan.
REFERENCES = (
    ("group_access", "group_id", "groups"),
    ("subjects", "group_id", "groups"),
    ("sessions", "group_id", "groups"),
    ("alert_rules", "group_id", "groups"),
    ("captures", "session_id", "sessions"),
    ("face_readings", "capture_id", "captures"),
    ("face_readings", "subject_id", "subjects"),
    ("outcomes", "subject_id", "subjects"),
    ("outcomes", "period_id", "periods"),
    ("timeline_notes", "subject_id", "subjects"),
)


def photo(n: int) -> tuple[bytes, str]:
    data = b"\x89PNG fake photo %d" % n
    return data, hashlib.sha256(data).hexdigest()


def counts(service) -> dict[str, int]:
    with service.engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES}


def orphans(service) -> dict[str, int]:
    """Rows whose parent row is missing, per foreign key (empty when there are none)."""
    found = {}
    with service.engine.connect() as conn:
        for child, column, parent in REFERENCES:
            n = conn.execute(
                text(
                    f"SELECT count(*) FROM {child} WHERE {column} IS NOT NULL "
                    f"AND {column} NOT IN (SELECT id FROM {parent})"
                )
            ).scalar()
            if n:
                found[f"{child}.{column}"] = n
    return found


def scalar(service, sql: str, **params) -> int:
    with service.engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def audit_rows(service, admin, action: str):
    log = service.audit_log(admin)
    return log[log["action"] == action]


@pytest.fixture
def pilot(service, admin, make_reading):
    """A class that keeps photos, with a teacher, two consenting subjects, a period with their outcomes, a note
    and an alert rule, and two sessions of captures; and a second class that every test expects to stay intact."""
    svc = service
    teacher = svc.create_user(admin, "teacher", "teacher-password", "teacher")
    group = svc.create_group(admin, "7a", "class", keep_images=True)
    other = svc.create_group(admin, "7b", "class", keep_images=True)
    svc.grant_access(admin, teacher.id, group.id)
    s1, s2 = (svc.create_subject(admin, group.id, code, consent="granted") for code in ("S-01", "S-02"))
    o1 = svc.create_subject(admin, other.id, "S-01", consent="granted")
    first = svc.create_session(admin, group.id, context_note="maths")
    second = svc.create_session(admin, group.id, context_note="art")
    elsewhere = svc.create_session(admin, other.id)
    (p1, c1), (p2, c2), (p3, c3), (p4, c4) = (photo(n) for n in range(4))
    both = svc.save_capture(admin, first.id, [make_reading(), make_reading()], [s1.id, s2.id], c1, "upload", p1)
    only_s1 = svc.save_capture(admin, first.id, [make_reading(), make_reading()], [s1.id, None], c2, "upload", p2)
    only_s2 = svc.save_capture(admin, second.id, [make_reading()], [s2.id], c3, "upload", p3)
    kept = svc.save_capture(admin, elsewhere.id, [make_reading()], [o1.id], c4, "upload", p4)
    period = svc.create_period(admin, "T1", date(2000, 1, 1), date(2100, 1, 1))
    svc.import_outcomes(admin, group.id, "subject_code,period,grade\nS-01,T1,4\nS-02,T1,5\n")
    svc.import_outcomes(admin, other.id, "subject_code,period,grade\nS-01,T1,3\n")
    svc.add_timeline_note(admin, s1.id, "note on S-01")
    svc.add_timeline_note(admin, o1.id, "note in 7b")
    svc.set_alert_rule(admin, group.id, AlertRule("valence", "below", -0.3, 2))
    svc.set_alert_rule(admin, other.id, AlertRule("arousal", "above", 0.5, 2))
    return dict(
        teacher=teacher,
        group=group,
        other=other,
        s1=s1,
        s2=s2,
        o1=o1,
        first=first,
        second=second,
        elsewhere=elsewhere,
        both=both,
        only_s1=only_s1,
        only_s2=only_s2,
        kept=kept,
        photos=(p1, p2, p3, p4),
        period=period,
    )


# ---------------------------------------------------------------- subjects


def test_a_deleted_subject_leaves_no_image_reading_outcome_or_note(service, admin, pilot):
    s1, (p1, _, p3, p4) = pilot["s1"], pilot["photos"]
    assert service.capture_image(admin, pilot["both"].capture_id) == p1
    before = counts(service)
    assert service.delete_subject(admin, s1.id) == {"readings": 2, "outcomes": 1, "notes": 1, "images_removed": 2}

    for table in ("face_readings", "outcomes", "timeline_notes"):
        assert scalar(service, f"SELECT count(*) FROM {table} WHERE subject_id = :s", s=s1.id) == 0, table
    assert scalar(service, "SELECT count(*) FROM subjects WHERE id = :s", s=s1.id) == 0
    # Every photo S-01 was read from is gone, whoever else it showed; the others stay.
    assert service.capture_image(admin, pilot["both"].capture_id) is None
    assert service.capture_image(admin, pilot["only_s1"].capture_id) is None
    assert service.capture_image(admin, pilot["only_s2"].capture_id) == p3
    assert service.capture_image(admin, pilot["kept"].capture_id) == p4
    # The captures, their checksums and the other readings in them stay.
    after = counts(service)
    assert after["captures"] == before["captures"]
    assert after["face_readings"] == before["face_readings"] - 2
    assert scalar(service, "SELECT checksum FROM captures WHERE id = :c", c=pilot["both"].capture_id) == photo(0)[1]
    frame = service.readings_frame(admin, group_id=pilot["group"].id)
    assert sorted(frame["subject_code"].fillna("-")) == ["-", "S-02", "S-02"]
    assert orphans(service) == {}
    detail = audit_rows(service, admin, "delete_subject")["detail"].iloc[0]
    assert "readings=2" in detail and "notes=1" in detail and "images_removed=2" in detail


# ---------------------------------------------------------------- captures, sessions, periods, groups


def test_deleting_a_capture_or_a_session_leaves_no_orphans_and_is_audited(service, admin, pilot):
    before = counts(service)
    assert service.delete_capture(admin, pilot["only_s2"].capture_id) == {"readings": 1, "images": 1, "captures": 1}
    assert service.delete_session(admin, pilot["first"].id) == {
        "sessions": 1,
        "captures": 2,
        "images": 2,
        "readings": 4,
    }
    after = counts(service)
    assert before["captures"] - after["captures"] == 3
    assert before["face_readings"] - after["face_readings"] == 5
    assert before["sessions"] - after["sessions"] == 1
    assert {k: after[k] for k in ("subjects", "outcomes", "timeline_notes")} == {
        k: before[k] for k in ("subjects", "outcomes", "timeline_notes")
    }
    assert orphans(service) == {}
    assert service.readings_frame(admin, group_id=pilot["group"].id).empty
    assert [s.id for s in service.list_sessions(admin, pilot["group"].id)] == [pilot["second"].id]
    assert service.capture_image(admin, pilot["kept"].capture_id) == pilot["photos"][3]
    session_row = audit_rows(service, admin, "delete_session").iloc[0]
    assert session_row["object_id"] == pilot["first"].id
    assert session_row["detail"] == f"group={pilot['group'].id} sessions=1 captures=2 images=2 readings=4"
    assert "readings=1 images=1 captures=1" in audit_rows(service, admin, "delete_capture")["detail"].iloc[0]


def test_deleting_a_period_deletes_its_outcomes_in_every_group_and_nothing_else(service, admin, pilot):
    later = service.create_period(admin, "T2", date(2100, 1, 1), date(2100, 6, 1))
    service.import_outcomes(admin, pilot["group"].id, "subject_code,period,grade\nS-01,T2,2\n")
    before = counts(service)
    assert service.delete_period(admin, pilot["period"].id) == {"outcomes": 3, "periods": 1}
    after = counts(service)
    assert (before["outcomes"] - after["outcomes"], before["periods"] - after["periods"]) == (3, 1)
    assert after["face_readings"] == before["face_readings"] and after["subjects"] == before["subjects"]
    assert [p.name for p in service.list_periods(admin)] == [later.name]
    assert list(service.outcomes_frame(admin, pilot["group"].id)["period"]) == ["T2"]
    assert orphans(service) == {}
    assert "name='T1' outcomes=3 periods=1" in audit_rows(service, admin, "delete_period")["detail"].iloc[0]


def test_deleting_a_group_deletes_everything_in_it_and_nothing_of_the_others(service, admin, pilot):
    other = pilot["other"]
    keep = service.readings_frame(admin, group_id=other.id)
    keep_outcomes = service.outcomes_frame(admin, other.id)
    before = counts(service)
    gone = service.delete_group(admin, pilot["group"].id)
    assert gone == {
        "sessions": 2,
        "captures": 3,
        "images": 3,
        "readings": 5,
        "notes": 1,
        "outcomes": 2,
        "subjects": 2,
        "alert_rules": 1,
        "grants": 1,
        "groups": 1,
    }
    after = counts(service)
    assert after == {
        "groups": 1,
        "group_access": 0,
        "subjects": 1,
        "sessions": 1,
        "captures": 1,
        "face_readings": 1,
        "outcomes": 1,
        "periods": 1,
        "timeline_notes": 1,
        "alert_rules": 1,
    }
    assert before["face_readings"] - after["face_readings"] == gone["readings"]
    assert orphans(service) == {}
    assert [g.name for g in service.list_groups(admin)] == ["7b"]
    assert service.list_groups(pilot["teacher"]) == []
    assert service.readings_frame(admin, group_id=other.id).equals(keep)
    assert service.outcomes_frame(admin, other.id).equals(keep_outcomes)
    assert service.capture_image(admin, pilot["kept"].capture_id) == pilot["photos"][3]
    assert "name='7a' sessions=2" in audit_rows(service, admin, "delete_group")["detail"].iloc[0]


def test_only_an_administrator_deletes_or_sets_a_policy_and_refusals_are_audited(service, admin, pilot):
    teacher = pilot["teacher"]  # with access to the group
    before = counts(service)
    refused = [
        lambda: service.delete_capture(teacher, pilot["both"].capture_id),
        lambda: service.delete_session(teacher, pilot["first"].id),
        lambda: service.delete_period(teacher, pilot["period"].id),
        lambda: service.delete_group(teacher, pilot["group"].id),
        lambda: service.set_group_policy(teacher, pilot["group"].id, retention_days=1),
        lambda: service.purge_expired(teacher),
    ]
    for call in refused:
        with pytest.raises(PermissionDenied):
            call()
    assert counts(service) == before
    assert len(audit_rows(service, admin, "denied").query("username == 'teacher'")) == len(refused)
    assert service.capture_image(admin, pilot["both"].capture_id) == pilot["photos"][0]


# ---------------------------------------------------------------- consent


def test_withdrawn_consent_hides_a_subject_from_readings_export_and_training(service, admin, pilot, make_reading):
    group, s1 = pilot["group"], pilot["s1"]
    readings = service.readings_frame(admin, group_id=group.id)
    training = service.training_data(admin, [group.id])
    assert set(training["subject_id"]) == {s1.id, pilot["s2"].id}

    for consent in ("withdrawn", "pending"):
        service.set_consent(admin, s1.id, consent)
        frame = service.readings_frame(admin, group_id=group.id)
        assert s1.id not in set(frame["subject_id"].dropna())
        assert len(frame) == len(readings) - 2  # S-01's two readings; the unassigned one stays
        assert service.readings_frame(admin, subject_id=s1.id).empty
        assert "S-01" not in service.export_readings_csv(admin, group_id=group.id)
        assert set(service.training_data(admin, [group.id])["subject_id"]) == {pilot["s2"].id}
        with pytest.raises(InvalidInput):  # and no new reading can be assigned to them
            service.save_capture(admin, pilot["second"].id, [make_reading()], [s1.id], photo(9)[1], "upload")

    # The other group's S-01 is a different person and stays.
    assert len(service.readings_frame(admin, group_id=pilot["other"].id)) == 1
    service.set_consent(admin, s1.id, "granted")  # granted again: everything is back
    assert service.readings_frame(admin, group_id=group.id).equals(readings)
    assert service.training_data(admin, [group.id]).equals(training)


# ---------------------------------------------------------------- retention


def test_a_group_policy_is_validated_shown_and_audited(service, admin, pilot):
    group = pilot["group"].id
    for bad in (0, RETENTION_DAYS_MAX + 1, -5, True, 2.5):
        with pytest.raises(InvalidInput):
            service.set_group_policy(admin, group, retention_days=bad)
    info = service.set_group_policy(admin, group, retention_days=30, keep_images=False)
    assert (info.retention_days, info.keep_images) == (30, False)
    shown = {g.id: g for g in service.list_groups(admin)}
    assert shown[group].retention_days == 30 and shown[pilot["other"].id].retention_days is None
    assert service.set_group_policy(admin, group, retention_days=None).retention_days is None
    assert not service.set_group_policy(admin, group, retention_days=None).keep_images  # None: unchanged
    details = list(audit_rows(service, admin, "set_group_policy")["detail"])
    assert details[-1] == "retention_days=None keep_images=True -> retention_days=30 keep_images=False"


def test_retention_purges_what_is_older_than_the_policy_and_keeps_the_rest(service, admin, make_reading):
    now = datetime(2030, 6, 1, 12, tzinfo=UTC)
    limited = service.create_group(admin, "Limited", "class", keep_images=True)
    forever = service.create_group(admin, "Forever", "class", keep_images=True)
    subject = service.create_subject(admin, limited.id, "S-01", consent="granted")
    sessions = {}
    for group, age in ((limited, 40), (limited, 31), (limited, 29), (forever, 4000)):
        meeting = service.create_session(admin, group.id, started_at=now - timedelta(days=age))
        data, checksum = photo(age)
        assign = [subject.id] if group is limited else None
        service.save_capture(admin, meeting.id, [make_reading()], assign, checksum, "upload", data)
        sessions[(group.name, age)] = meeting.id
    service.set_group_policy(admin, limited.id, retention_days=30)

    assert service.purge_expired(now=now) == {"sessions": 2, "captures": 2, "images": 2, "readings": 2}
    left = {(g.name, s.id) for g in (limited, forever) for s in service.list_sessions(admin, g.id)}
    assert left == {("Limited", sessions[("Limited", 29)]), ("Forever", sessions[("Forever", 4000)])}
    assert orphans(service) == {}
    assert [s.code for s in service.list_subjects(admin, limited.id)] == ["S-01"]  # subjects are not session data
    row = audit_rows(service, admin, "purge_expired")
    assert len(row) == 1 and row["username"].iloc[0] == ""
    assert row["detail"].iloc[0] == f"sessions=2 captures=2 images=2 readings=2 groups=[{limited.id}]"

    # Nothing more to purge: no new audit row. A day later the 29-day-old session is 30 days old, still kept;
    # the day after it is older than the policy and goes, purged by an administrator.
    assert service.purge_expired(now=now) == {"sessions": 0, "captures": 0, "images": 0, "readings": 0}
    assert service.purge_expired(now=now + timedelta(days=1))["sessions"] == 0
    assert len(audit_rows(service, admin, "purge_expired")) == 1
    assert service.purge_expired(admin, now=now + timedelta(days=1, hours=1))["sessions"] == 1
    rows = audit_rows(service, admin, "purge_expired")
    assert len(rows) == 2 and rows["username"].iloc[0] == "admin"
    assert service.list_sessions(admin, limited.id) == []
    assert len(service.list_sessions(admin, forever.id)) == 1  # no policy: kept however old


def test_groups_without_a_policy_keep_everything(service, admin, pilot):
    before = counts(service)
    assert service.purge_expired(now=datetime.now(UTC) + timedelta(days=100 * 365))["sessions"] == 0
    assert counts(service) == before
    assert audit_rows(service, admin, "purge_expired").empty
