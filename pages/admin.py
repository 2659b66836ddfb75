"""Admin: users and roles, groups and access, periods, retention, model card, database, export."""

from datetime import date

import pandas as pd
import streamlit as st

import ui
from db.enums import GROUP_KINDS, ROLES
from vadcore.settings import PROJECT_ROOT, SHIPPED_CHECKPOINT, get_settings

user = ui.require_user("admin")
svc = ui.service()
st.title("Admin")

users_tab, groups_tab, retention_tab, model_tab, data_tab = st.tabs(
    ["Users", "Groups and access", "Retention", "Model", "Database and export"]
)

# ---------------------------------------------------------------- users
with users_tab:
    users = ui.attempt(lambda: svc.list_users(user)) or []
    st.dataframe(
        pd.DataFrame(
            [
                {"id": u.id, "username": u.username, "name": u.display_name, "role": u.role, "active": u.is_active}
                for u in users
            ]
        ),
        hide_index=True,
        width="content",
    )
    new_col, manage_col = st.columns(2)
    with new_col.form("new_user", clear_on_submit=True):
        st.markdown("**New user**")
        username = st.text_input("Username", key="new_user_name")
        display = st.text_input("Display name", key="new_user_display")
        role = st.selectbox("Role", ROLES, index=1, key="new_user_role")
        password = st.text_input("Initial password", type="password", key="new_user_password")
        if st.form_submit_button("Create user"):
            if ui.attempt(lambda: svc.create_user(user, username, password, role, display)):
                st.rerun()
    with manage_col.form("manage_user", clear_on_submit=True):
        st.markdown("**Reset a password or disable an account**")
        by_id = {u.id: u for u in users}
        uid = st.selectbox(
            "User", list(by_id), format_func=lambda i: f"{by_id[i].username} ({by_id[i].role})", key="manage_user"
        )
        new_password = st.text_input("New password", type="password", key="manage_password")
        reset, disable = st.columns(2)
        if reset.form_submit_button("Set password") and ui.succeeded(lambda: svc.set_password(user, uid, new_password)):
            st.success("Password set.")
        if disable.form_submit_button("Disable account") and ui.succeeded(lambda: svc.deactivate_user(user, uid)):
            st.rerun()

# ---------------------------------------------------------------- groups, access, periods
with groups_tab:
    groups = ui.attempt(lambda: svc.list_groups(user)) or []
    st.dataframe(
        pd.DataFrame(
            [
                {"id": g.id, "name": g.name, "kind": g.kind, "photos kept": g.keep_images, "simulated": g.is_simulated}
                for g in groups
            ]
        ),
        hide_index=True,
        width="content",
    )
    new_col, access_col = st.columns(2)
    with new_col.form("new_group", clear_on_submit=True):
        st.markdown("**New group** (a class for teachers, a caseload for psychologists)")
        name = st.text_input("Name", key="new_group_name")
        kind = st.selectbox("Kind", GROUP_KINDS, key="new_group_kind")
        keep = st.checkbox(
            "Keep the photos (otherwise only checksums and readings are stored)",
            key="new_group_keep",
            value=get_settings().keep_images_default,
        )
        if st.form_submit_button("Create group"):
            if ui.attempt(lambda: svc.create_group(user, name, kind, keep_images=keep)):
                st.rerun()
    with access_col.form("access"):
        st.markdown("**Access**: teachers see classes, psychologists caseloads")
        staff = {u.id: u for u in users if u.role != "admin" and u.is_active}
        who = st.selectbox(
            "User", list(staff), format_func=lambda i: f"{staff[i].username} ({staff[i].role})", key="access_user"
        )
        by_gid = {g.id: g for g in groups}
        which = st.selectbox("Group", list(by_gid), format_func=lambda i: ui.group_label(by_gid[i]), key="access_group")
        grant, revoke = st.columns(2)
        if (
            grant.form_submit_button("Grant")
            and who
            and which
            and ui.succeeded(lambda: svc.grant_access(user, who, which))
        ):
            st.success(f"{staff[who].username} can now open {by_gid[which].name}.")
        if (
            revoke.form_submit_button("Revoke")
            and who
            and which
            and ui.succeeded(lambda: svc.revoke_access(user, who, which))
        ):
            st.success(f"{staff[who].username} can no longer open {by_gid[which].name}.")
    st.markdown("**Periods** (terms the outcomes CSV refers to; the end day is not included)")
    periods = ui.attempt(lambda: svc.list_periods(user)) or []
    if periods:
        st.dataframe(
            pd.DataFrame([{"name": p.name, "from": p.starts_on, "until (excl.)": p.ends_on} for p in periods]),
            hide_index=True,
            width="content",
        )
    with st.form("new_period", clear_on_submit=True):
        p1, p2, p3 = st.columns(3)
        pname = p1.text_input("Name", placeholder="2025-T1", key="period_name")
        starts = p2.date_input("From", value=date.today().replace(day=1), key="period_start")
        ends = p3.date_input("Until (excl.)", value=None, key="period_end")
        if st.form_submit_button("Add period"):
            if ends is None:
                st.error("Choose the end day.")
            elif ui.attempt(lambda: svc.create_period(user, pname, starts, ends)):
                st.rerun()

# ---------------------------------------------------------------- retention
with retention_tab:
    st.markdown(
        "Deleting a subject deletes **all their readings, outcomes and timeline notes** at once. "
        "This cannot be undone; the audit log keeps who did it."
    )
    group = ui.pick_group(svc, user, key="retention_group")
    subjects = {s.id: s for s in (ui.attempt(lambda: svc.list_subjects(user, group.id)) or [])} if group else {}
    if subjects:
        sid = st.selectbox("Subject", list(subjects), format_func=lambda i: subjects[i].code, key="retention_subject")
        theirs = ui.attempt(lambda: svc.readings_frame(user, subject_id=sid))
        n = 0 if theirs is None else len(theirs)
        confirm = st.text_input(
            f"Type the code **{subjects[sid].code}** to confirm deleting it with {n} reading(s)",
            key="retention_confirm",
        )
        if st.button(
            "Delete subject and all their data",
            type="primary",
            key="retention_delete",
            disabled=confirm.strip() != subjects[sid].code,
        ):
            if ui.succeeded(lambda: svc.delete_subject(user, sid)):
                st.success(f"Deleted {subjects[sid].code} and {n} reading(s).")
    elif group:
        st.info(f"{group.name} has no subjects.")

# ---------------------------------------------------------------- model
with model_tab:
    model = ui.predictor()
    checkpoint = get_settings().checkpoint
    m1, m2, m3 = st.columns(3)
    m1.metric("Model version", model.model_version)
    m2.metric("Checkpoint size", f"{checkpoint.stat().st_size / 2**20:.1f} MB")
    m3.metric("Runs on", str(model.device))
    training = model.meta.get("training", {})
    st.caption(
        f"{checkpoint} — training: "
        + ", ".join(f"{k}={v}" for k, v in training.items() if not isinstance(v, (dict, list)))
    )
    if checkpoint.resolve() != SHIPPED_CHECKPOINT.resolve():
        st.warning(
            "This is not the shipped model (VADLENS_CHECKPOINT points elsewhere): the model card below "
            "describes the shipped one, not the model in use.",
            icon=":material/warning:",
        )
    card = PROJECT_ROOT / "MODEL_CARD.md"
    with st.expander("Model card", expanded=card.exists()):
        st.markdown(card.read_text(encoding="utf-8") if card.exists() else "_MODEL_CARD.md is not there yet._")
    st.markdown("**How to retrain**")
    st.code(
        "python scripts/train.py --smoke            # < 1 min: checks the whole pipeline\n"
        "python scripts/train.py --out runs/NAME    # the full run (GPU advised); --help lists every flag\n"
        "python scripts/evaluate.py --checkpoint runs/NAME/model.pt   # measure it before using it\n"
        "VADLENS_CHECKPOINT=runs/NAME/model.pt streamlit run app.py    # serve it; the shipped file stays as is",
        language="bash",
    )

# ---------------------------------------------------------------- database and export
with data_tab:
    size = ui.attempt(lambda: svc.database_size(user))
    st.metric("Database size", f"{size / 2**20:.2f} MB" if size is not None else "?")
    st.caption(f"Engine: {svc.engine.url.get_backend_name()}")
    if st.button("Prepare CSV export of all readings", key="prepare_export"):
        st.session_state["export_csv"] = ui.attempt(lambda: svc.export_readings_csv(user))
    if st.session_state.get("export_csv"):
        st.download_button(
            "Download readings.csv",
            st.session_state["export_csv"],
            file_name="vadlens_readings.csv",
            mime="text/csv",
            key="export_download",
        )
    with st.expander("Audit log (newest 200)"):
        st.dataframe(ui.attempt(lambda: svc.audit_log(user, limit=200)), hide_index=True, width="stretch", height=300)
