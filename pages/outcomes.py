"""Outcomes: import grades / at-risk flags, then run the outcome study (`vadcore.outcome_study`) and draw it.

The page computes nothing: the power statement comes from `plan_study`, the verdict, figures, ranked list and
drivers from one `study_outcomes` call. Names people typed (groups, periods, subject codes) are drawn as plain
text or in tables, never as markdown.
"""

import json

import plotly.graph_objects as go
import streamlit as st

import ui
from vadcore.csv_safety import to_csv
from vadcore.outcome_study import CLAIMS, plan_study, study_outcomes

user = ui.require_user()
svc = ui.service()
st.title("Outcomes and risk predictor")
st.caption(
    "The study asks whether each subject's reading features (means, spreads, trends of V/A/D and class shares "
    "per period) carry information about grades or an at-risk flag, and ranks subjects only if they do. It "
    "supports a conversation; it is not a diagnosis."
)
with st.expander("What the predictor can and cannot claim", expanded=False):
    st.markdown("\n".join(f"- {line}" for line in CLAIMS))

groups = {g.id: g for g in ui.attempt(lambda: svc.list_groups(user)) or []}
if not groups:
    st.info("No groups yet. An administrator creates groups and grants access (Admin page).")
    st.stop()
periods = ui.attempt(lambda: svc.list_periods(user)) or []  # oldest first (by start date)
period_order = [p.name for p in periods]

# ---------------------------------------------------------------- 1. import a CSV
with st.expander("1 · Import an outcomes CSV", expanded=False):
    st.markdown(
        "Columns: `subject_code, period, grade, at_risk` (comma or semicolon separated; `at_risk` as "
        "yes/no, true/false or 1/0; either value may be empty)."
    )
    st.text(
        "Periods known: " + ", ".join(period_order)
        if period_order
        else "No periods yet: an administrator adds them (Admin)."
    )
    gid = st.selectbox("Group", list(groups), format_func=lambda i: ui.group_label(groups[i]), key="import_group")
    upload = st.file_uploader("Outcomes CSV", type=None, key="outcomes_csv")
    if upload is not None:
        report = ui.attempt(lambda: svc.import_outcomes(user, gid, upload.getvalue(), dry_run=True))
        if report is not None:
            if len(report.problems):
                st.warning(f"{report.problems['line'].nunique()} line(s) will be left out:")
                st.dataframe(report.problems, hide_index=True, width="stretch", height=200)
            if report.imported and st.button(
                f"Import {report.imported} row(s) into the chosen group", type="primary", key="import_csv"
            ):
                done = ui.attempt(lambda: svc.import_outcomes(user, gid, upload.getvalue()))
                if done is not None:
                    st.session_state.pop("outcomes_table", None)  # the study must read the new outcomes
                    st.success(f"Imported {done.imported} row(s).")
            elif not report.imported:
                st.error("No row of this file can be imported.")

# ---------------------------------------------------------------- 2. choose, see the power, run
st.subheader("2 · Study the outcomes")
c1, c2 = st.columns([3, 2])
chosen = c1.multiselect(
    "Groups to learn from",
    list(groups),
    default=list(groups)[:1],
    key="train_groups",
    format_func=lambda i: ui.group_label(groups[i]),
    help="Simulated (demo) and real groups cannot be combined.",
)
target = c2.radio(
    "Outcome",
    ["at_risk", "grade"],
    horizontal=True,
    key="train_target",
    format_func={"at_risk": "at-risk flag", "grade": "grade"}.get,
)
attendance = st.checkbox(
    "Include attendance (how often each subject was photographed, `n_obs`)",
    value=False,
    key="train_attendance",
    help="Left out by default: attendance is not a reading of the face, and a link with it says nothing about "
    "how someone feels.",
)

# Before anything is fitted: what the cohort allows and how strong a link it could detect.
# The table is read once per choice of groups (an audited read), and again when the study runs.
cached = st.session_state.get("outcomes_table")
if chosen and (cached is None or cached["groups"] != tuple(chosen)):
    table = ui.attempt(lambda: svc.training_data(user, chosen))  # a refusal is shown, and tried again next time
    cached = None if table is None else {"groups": tuple(chosen), "table": table}
    if cached is not None:
        st.session_state["outcomes_table"] = cached
if chosen and cached is not None and cached["groups"] == tuple(chosen):
    try:
        plan = plan_study(cached["table"], target, periods_order=period_order, include_attendance=attendance)
    except ValueError as exc:
        st.error("These data cannot be studied:")
        st.text(str(exc))
    else:
        st.info(plan.power.text, icon=":material/query_stats:")
        st.caption(plan.mode_label)
        for reason in plan.reasons:
            (st.caption if plan.can_fit else st.warning)(reason)

if st.button("Run the study", type="primary", key="train", disabled=not chosen):
    with st.status("Running the outcome study…", expanded=True) as status:
        st.write("Collecting reading features and outcomes…")
        table = ui.attempt(lambda: svc.training_data(user, chosen))
        if table is None:
            status.update(label="No data", state="error")
            st.stop()
        st.session_state["outcomes_table"] = {"groups": tuple(chosen), "table": table}
        st.write("Cross-validating (folds of whole subjects), permuting, bootstrapping…")
        try:
            study = study_outcomes(table, target, periods_order=period_order, include_attendance=attendance)
        except ValueError as exc:
            status.update(label="The study failed", state="error")
            st.error("These data cannot be studied:")
            st.text(str(exc))
            st.stop()
        st.session_state["outcomes_study"] = {"study": study, "groups": [groups[g].name for g in chosen]}
        status.update(label="Study complete", state="complete", expanded=False)

# ---------------------------------------------------------------- 3. the result, drawn
result = st.session_state.get("outcomes_study")
if result is None:
    st.stop()
study = result["study"]
st.subheader("3 · Result")
st.text(f"Groups: {', '.join(result['groups'])}")
st.caption(study.mode_label)
if study.passed:
    st.success(study.verdict, icon=":material/check_circle:")
else:
    st.warning(study.verdict, icon=":material/info:")

if study.fitted:
    cols = st.columns(len(study.metrics) + 1)
    for col, m in zip(cols, study.metrics):
        col.metric(
            m.name,
            f"{m.value:.3f}",
            None if m.vs_baseline is None else f"{m.vs_baseline:+.3f} vs baseline {m.baseline:.3f}",
            help=m.text(),
        )
    cols[-1].metric("permutation p", f"{study.p_value:.3f}", help=study.statistic)
    st.caption(
        f"{study.n_rows} rows of {study.n_subjects} subjects; {study.n_splits} folds of whole subjects; "
        f"{study.n_permutations} permutations. Tested: {study.statistic}."
    )
for reason in study.reasons:
    st.caption(reason)

if study.importance is not None and study.ranked is not None:
    imp = study.importance.head(12).iloc[::-1]
    fig = go.Figure(
        go.Bar(
            x=imp["coefficient"],
            y=imp["feature"],
            orientation="h",
            error_x=dict(type="data", array=imp["sd"]),
            marker_color="#0072B2",
        )
    )
    fig.update_layout(
        height=360,
        margin=dict(l=10, r=10, t=30, b=10),
        title=dict(text="Coefficients of the out-of-fold models (mean ± SD over folds)", font=dict(size=14)),
    )
    fig.update_xaxes(title_text=f"Coefficient ({study.importance_label})")
    fig.update_yaxes(title_text="Feature")
    left, right = st.columns([2, 3])
    left.plotly_chart(fig, key="importance", width="stretch")
    with right:
        st.caption(study.scoring)
        st.dataframe(study.ranked, width="stretch", height=330)
    st.download_button(
        "Download the ranked list (CSV)",
        to_csv(study.ranked, index_label="rank"),  # formula cells neutralised for spreadsheets
        file_name=f"vadlens_{study.target}_ranking.csv",
        mime="text/csv",
        key="dl_ranking",
    )

st.download_button(
    "Download the study (JSON)",
    json.dumps({**study.summary(), "groups": result["groups"]}, indent=2, default=float),
    file_name=f"vadlens_{study.target}_study.json",
    mime="application/json",
    key="dl_metrics",
)
