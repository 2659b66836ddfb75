"""Outcomes: import grades / at-risk flags, cross-validate the predictor, rank subjects by risk."""

import json

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import ui
from ui.drivers import contributions, top_drivers
from vadcore.features import FEATURE_COLUMNS, PeriodSpan, subject_period_features
from vadcore.outcomes import evaluate, make_predictor

user = ui.require_user()
svc = ui.service()
st.title("Outcomes and risk predictor")
st.caption(
    "The predictor learns grades or an at-risk flag from each subject's reading features per period "
    "(means, spreads, trends of V/A/D and class shares). It supports a conversation; it is not a diagnosis."
)

groups = {g.id: g for g in ui.attempt(lambda: svc.list_groups(user)) or []}
if not groups:
    st.info("No groups yet. An administrator creates groups and grants access (Admin page).")
    st.stop()
periods = ui.attempt(lambda: svc.list_periods(user)) or []

# ---------------------------------------------------------------- 1. import a CSV
with st.expander("1 · Import an outcomes CSV", expanded=False):
    st.markdown(
        "Columns: `subject_code, period, grade, at_risk` (comma or semicolon separated; `at_risk` as "
        "yes/no, true/false or 1/0; either value may be empty). Periods known: "
        + (", ".join(f"`{p.name}`" for p in periods) or "none yet — an administrator adds them (Admin).")
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
                f"Import {report.imported} row(s) into {groups[gid].name}", type="primary", key="import_csv"
            ):
                done = ui.attempt(lambda: svc.import_outcomes(user, gid, upload.getvalue()))
                if done is not None:
                    st.success(f"Imported {done.imported} row(s).")
            elif not report.imported:
                st.error("No row of this file can be imported.")

# ---------------------------------------------------------------- 2. train and cross-validate
st.subheader("2 · Train and cross-validate")
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
    "Predict",
    ["at_risk", "grade"],
    horizontal=True,
    key="train_target",
    format_func={"at_risk": "at-risk flag", "grade": "grade"}.get,
)

if st.button("Train and cross-validate", type="primary", key="train", disabled=not chosen):
    with st.status("Training the predictor…", expanded=True) as status:
        st.write("Collecting reading features and outcomes…")
        table = ui.attempt(lambda: svc.training_data(user, chosen))
        table = None if table is None else table.dropna(subset=[target])
        if table is None or table.empty:
            status.update(label="No training data", state="error")
            st.error("No subject has both readings and a recorded outcome in a period. Import outcomes first.")
            st.stop()
        X = table[list(FEATURE_COLUMNS)]
        y = table[target].astype(int if target == "at_risk" else float)
        n_subjects = table["subject_id"].nunique()
        st.write(f"{len(table)} subject-periods of {n_subjects} subjects. Cross-validating (folds grouped by subject)…")
        try:
            result = evaluate(
                make_predictor(target), X, y, table["subject_id"], n_splits=min(5, n_subjects), n_bootstrap=500
            )
            st.write("Fitting the final model on all rows…")
            model = make_predictor(target).fit(X, y, groups=table["subject_id"])
        except ValueError as exc:
            status.update(label="Training failed", state="error")
            st.error(f"Cannot train on these data: {exc}")
            st.stop()
        st.write("Scoring each subject's latest period…")
        readings = pd.concat([svc.readings_frame(user, group_id=g) for g in chosen], ignore_index=True)
        spans = [PeriodSpan(p.name, p.starts_on, p.ends_on) for p in periods]
        features = subject_period_features(readings.dropna(subset=["subject_id"]), spans).reset_index()
        order = {p.name: p.starts_on for p in periods}
        latest = (
            features.assign(_start=features["period"].map(order))
            .sort_values("_start")
            .groupby("subject_id")
            .tail(1)
            .set_index("subject_id")
        )
        Xl = latest[list(FEATURE_COLUMNS)]
        codes = (
            readings.dropna(subset=["subject_id"]).drop_duplicates("subject_id").set_index("subject_id")["subject_code"]
        )
        score = model.predict_proba(Xl)[:, 1] if target == "at_risk" else model.predict(Xl)
        ranked = pd.DataFrame(
            {
                "subject": codes.reindex(Xl.index).to_numpy(),
                "period": latest["period"].to_numpy(),
                "readings": latest["n_obs"].astype(int).to_numpy(),
                ("risk (probability)" if target == "at_risk" else "predicted grade"): score,
                "drivers (feature value)": top_drivers(contributions(model, Xl), Xl),
            }
        ).sort_values(
            "risk (probability)" if target == "at_risk" else "predicted grade",
            ascending=target != "at_risk",
            ignore_index=True,
        )
        ranked.index += 1
        st.session_state["outcomes_result"] = {
            "evaluation": result,
            "ranked": ranked,
            "target": target,
            "groups": [groups[g].name for g in chosen],
        }
        status.update(label="Predictor trained and cross-validated", state="complete", expanded=False)

result = st.session_state.get("outcomes_result")
if result is None:
    st.stop()
ev = result["evaluation"]
st.markdown(
    f"**{ev.target}** on {', '.join(result['groups'])}: {ev.n_rows} rows, {ev.n_subjects} subjects, "
    f"{ev.n_splits} folds grouped by subject."
)
better_lower = {"mae", "brier"}
cols = st.columns(len(ev.metrics))
for col, (name, value) in zip(cols, ev.metrics.items()):
    col.metric(
        name.replace("_", " ").upper() if name in ("mae", "r2") else name.replace("_", " "),
        f"{value:.3f}",
        f"{value - ev.baseline[name]:+.3f} vs baseline {ev.baseline[name]:.3f}",
        delta_color="inverse" if name in better_lower else "normal",
    )
lo, hi = ev.improvement_ci
verdict = "beats the baseline" if ev.beats_baseline else "does **not** beat the baseline — do not rely on it"
(st.success if ev.beats_baseline else st.warning)(
    f"{ev.primary_metric} improvement {ev.improvement:+.3f} (95 % interval {lo:+.3f} … {hi:+.3f}): the model {verdict}."
)

imp = ev.importance.head(12).iloc[::-1]
unit = "drop in ROC-AUC" if ev.target == "at_risk" else "rise in MAE, grade points"
fig = go.Figure(
    go.Bar(
        x=imp["importance"],
        y=imp["feature"],
        orientation="h",
        error_x=dict(type="data", array=imp["std"]),
        marker_color="#0072B2",
    )
)
fig.update_layout(
    height=360,
    margin=dict(l=10, r=10, t=30, b=10),
    title=dict(text="Permutation importance on held-out folds", font=dict(size=14)),
)
fig.update_xaxes(title_text=f"Importance ({unit} when the feature is shuffled)")
fig.update_yaxes(title_text="Feature")
left, right = st.columns([2, 3])
left.plotly_chart(fig, key="importance", width="stretch")
with right:
    st.markdown("**Ranked list** (highest risk first; drivers are the features pushing most towards risk)")
    st.dataframe(result["ranked"], width="stretch", height=330)

summary = {
    "target": ev.target,
    "groups": result["groups"],
    "n_rows": ev.n_rows,
    "n_subjects": ev.n_subjects,
    "metrics": ev.metrics,
    "baseline": ev.baseline,
    "improvement": ev.improvement,
    "improvement_ci": list(ev.improvement_ci),
    "beats_baseline": ev.beats_baseline,
    "importance": ev.importance.to_dict(orient="records"),
}
d1, d2 = st.columns(2)
d1.download_button(
    "Download the ranked list (CSV)",
    result["ranked"].to_csv(index_label="rank"),
    file_name=f"vadlens_{ev.target}_ranking.csv",
    mime="text/csv",
    key="dl_ranking",
)
d2.download_button(
    "Download metrics and importance (JSON)",
    json.dumps(summary, indent=2, default=float),
    file_name=f"vadlens_{ev.target}_evaluation.json",
    mime="application/json",
    key="dl_metrics",
)
