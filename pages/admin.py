"""Admin: users and roles, groups and access, periods, retention, model card, database, export."""

from datetime import date
from pathlib import Path

import pandas as pd
import streamlit as st

import ui
from db.deployment import read_model_figures
from db.enums import GROUP_KINDS, RETENTION_DAYS_MAX, ROLES
from ui import local_time
from ui.deployment import admin_section, warn_unrecorded_deployment
from vadcore.csv_safety import to_csv
from vadcore.model_check import MIN_ACCURACY, MIN_SIGN_AGREEMENT
from vadcore.settings import PROJECT_ROOT, SHIPPED_CHECKPOINT, get_settings

FLASH_KEY = "admin_flash"  # a success message kept over the rerun that follows a change
CLEAR_KEY = "admin_clear"  # form fields to empty at the next run, after a change went through
AUDIT_KEY = "admin_audit_log"  # the audit rows last asked for, with the filters they were asked with
MODEL_REPORT_KEY = "admin_model_report"  # the model last registered here, to show its check report
OVERVIEW_KEY = "admin_access_overview"  # who sees what, as last read here (an audited read, made when asked)

user = ui.require_user("admin")
svc = ui.service()
zone = local_time.user_zone()  # times shown and audit days counted in the browser's zone
st.title("Admin")


def done(message: str, *clear: str) -> None:
    """A change went through: say so after the rerun, empty the form fields `clear`, rerun (so that tables
    show the change). Fields are emptied only here, so a refused form keeps what was typed."""
    st.session_state[FLASH_KEY] = message
    st.session_state[CLEAR_KEY] = list(clear)
    st.rerun()


# Widgets' values can only be reset before the widgets are drawn: the fields of the last successful form.
for field in st.session_state.pop(CLEAR_KEY, []):
    st.session_state.pop(field, None)
if FLASH_KEY in st.session_state:
    st.success(st.session_state.pop(FLASH_KEY), icon=":material/check_circle:")

warn_unrecorded_deployment(svc, user)
# Keyed and tracked, so that the tab a form was sent from is still the one shown after the rerun.
users_tab, groups_tab, access_tab, retention_tab, model_tab, data_tab, deployment_tab = st.tabs(
    ["Users", "Groups and access", "Who sees what", "Retention", "Model", "Database and export", "Deployment"],
    key="admin_tab",
    on_change="rerun",
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
    # Forms keep their fields on submit (a refusal must not wipe what was typed); `done` empties them.
    with new_col.form("new_user", clear_on_submit=False):
        st.markdown("**New user**")
        username = st.text_input("Username", key="new_user_name")
        display = st.text_input("Display name", key="new_user_display")
        role = st.selectbox("Role", ROLES, index=1, key="new_user_role")
        password = st.text_input("Initial password", type="password", key="new_user_password")
        if st.form_submit_button("Create user"):
            created = ui.attempt(lambda: svc.create_user(user, username, password, role, display))
            if created:
                done(
                    f"Account {ui.plain(created.username)} ({created.role}) created.",
                    "new_user_name",
                    "new_user_display",
                    "new_user_role",
                    "new_user_password",
                )
    with manage_col.form("manage_user", clear_on_submit=False):
        st.markdown("**Reset a password or disable an account**")
        by_id = {u.id: u for u in users}
        uid = st.selectbox(
            "User", list(by_id), format_func=lambda i: f"{by_id[i].username} ({by_id[i].role})", key="manage_user"
        )
        new_password = st.text_input("New password", type="password", key="manage_password")
        reset, disable = st.columns(2)
        if reset.form_submit_button("Set password") and ui.succeeded(lambda: svc.set_password(user, uid, new_password)):
            done(f"Password of {ui.plain(by_id[uid].username)} set.", "manage_password")
        if disable.form_submit_button("Disable account") and ui.succeeded(lambda: svc.deactivate_user(user, uid)):
            done(f"Account {ui.plain(by_id[uid].username)} disabled; its open sessions end at their next step.")
    disabled = {u.id: u for u in users if not u.is_active}
    if disabled:
        with st.form("reactivate_user"):
            st.markdown("**Re-enable a disabled account** (its password and group access are as they were)")
            rid = st.selectbox(
                "Disabled account",
                list(disabled),
                format_func=lambda i: f"{disabled[i].username} ({disabled[i].role})",
                key="reactivate_user",
            )
            if st.form_submit_button("Re-enable account") and ui.succeeded(lambda: svc.reactivate_user(user, rid)):
                done(f"Account {ui.plain(disabled[rid].username)} enabled again.")

# ---------------------------------------------------------------- groups, access, periods
with groups_tab:
    groups = ui.attempt(lambda: svc.list_groups(user)) or []
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "id": g.id,
                    "name": g.name,
                    "kind": g.kind,
                    "photos kept": g.keep_images,
                    "sessions kept (days)": "no limit" if g.retention_days is None else str(g.retention_days),
                    "grades": "any (±10,000)" if g.grade_min is None else f"{g.grade_min:g} … {g.grade_max:g}",
                    "simulated": g.is_simulated,
                }
                for g in groups
            ]
        ),
        hide_index=True,
        width="content",
    )
    new_col, access_col = st.columns(2)
    with new_col.form("new_group", clear_on_submit=False):
        st.markdown("**New group** (a class for teachers, a caseload for psychologists)")
        name = st.text_input("Name", key="new_group_name")
        kind = st.selectbox("Kind", GROUP_KINDS, key="new_group_kind")
        keep = st.checkbox(
            "Keep the photos (otherwise only checksums and readings are stored)",
            key="new_group_keep",
            value=get_settings().keep_images_default,
        )
        if st.form_submit_button("Create group"):
            made = ui.attempt(lambda: svc.create_group(user, name, kind, keep_images=keep))
            if made:
                done(
                    f"Group {ui.plain(made.name)} ({made.kind}) created; grant access to it on the right.",
                    "new_group_name",
                    "new_group_kind",
                    "new_group_keep",
                )
    with access_col.form("access"):
        st.markdown("**Access**: any teacher or psychologist to any group (a psychologist may follow a class)")
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
            st.session_state.pop(OVERVIEW_KEY, None)  # no longer true: read it again when asked
            st.success(f"{ui.plain(staff[who].username)} can now open {ui.plain(by_gid[which].name)}.")
        if (
            revoke.form_submit_button("Revoke")
            and who
            and which
            and ui.succeeded(lambda: svc.revoke_access(user, who, which))
        ):
            st.session_state.pop(OVERVIEW_KEY, None)
            st.success(f"{ui.plain(staff[who].username)} can no longer open {ui.plain(by_gid[which].name)}.")
    rename_col, delete_col = st.columns(2)
    if by_gid:
        with rename_col.form("rename_group", clear_on_submit=False):
            st.markdown("**Rename a group** (its subjects, sessions, access and policy stay)")
            renamed = st.selectbox(
                "Group", list(by_gid), format_func=lambda i: ui.group_label(by_gid[i]), key="rename_group"
            )
            new_name = st.text_input("New name", key="rename_group_name")
            if st.form_submit_button("Rename group"):
                result = ui.attempt(lambda: svc.rename_group(user, renamed, new_name))
                if result:
                    done(
                        f"Group {ui.plain(by_gid[renamed].name)} is now called {ui.plain(result.name)}.",
                        "rename_group_name",
                    )
    delete_col.markdown("**Delete a group**")
    delete_col.caption(
        "On the Retention tab, under Delete, The whole group: it removes the group with its subjects, sessions, "
        "captures, kept photos, readings, outcomes, timeline notes, alert rule and access grants, after you type "
        "the group's name. It cannot be undone; the audit log keeps who deleted it and how much."
    )
    st.markdown("**Group policy**: how long sessions are kept, and whether photos are")
    st.caption(
        "Sessions that started more than the set number of days ago are deleted, with their captures, kept "
        "photos and readings, each time the app starts and with Purge now on the Retention tab; 0 days keeps "
        "them all. Subjects, their outcomes and notes stay until deleted. Photo keeping applies to new captures: "
        "photos already kept stay until their session, subject or group is deleted."
    )
    policy_groups = {g.id: g for g in groups}
    policy_gid = st.selectbox(
        "Group", list(policy_groups), format_func=lambda i: ui.group_label(policy_groups[i]), key="policy_group"
    )
    if policy_gid is not None:
        current = policy_groups[policy_gid]
        with st.form("group_policy"):
            # Keyed by group, so that each group's form starts from its own stored policy.
            days = st.number_input(
                f"Keep sessions for (days, 1 to {RETENTION_DAYS_MAX:,}; 0: no limit)",
                min_value=0,
                max_value=RETENTION_DAYS_MAX,
                value=current.retention_days or 0,
                step=1,
                key=f"policy_days_{policy_gid}",
            )
            keep_new = st.checkbox(
                "Keep the photos of new captures", value=current.keep_images, key=f"policy_keep_{policy_gid}"
            )
            if st.form_submit_button("Save policy") and ui.succeeded(
                lambda: svc.set_group_policy(user, policy_gid, retention_days=int(days) or None, keep_images=keep_new)
            ):
                done(f"Policy of {ui.plain(current.name)} saved.")
        # The range imported grades must lie in; a grade outside is refused as a problem of its CSV line.
        with st.form("grade_range"):
            st.caption(
                "Grades of this group's outcome CSVs must lie in this range (both ends included); lines with other "
                "grades are refused. Without a range, grades beyond ±10,000 are refused."
            )
            g1, g2, g3 = st.columns(3)
            lowest = g1.number_input(
                "Lowest grade", value=current.grade_min, step=1.0, key=f"grade_min_{policy_gid}", placeholder="none"
            )
            highest = g2.number_input(
                "Highest grade", value=current.grade_max, step=1.0, key=f"grade_max_{policy_gid}", placeholder="none"
            )
            clear = g3.checkbox("No range", value=current.grade_min is None, key=f"grade_clear_{policy_gid}")
            if st.form_submit_button("Save grade range") and ui.succeeded(
                lambda: svc.set_grade_range(user, policy_gid, *((None, None) if clear else (lowest, highest)))
            ):
                done(f"Grade range of {ui.plain(current.name)} saved.")
    st.markdown("**Periods** (terms the outcomes CSV refers to; the end day is not included)")
    periods = ui.attempt(lambda: svc.list_periods(user)) or []
    if periods:
        st.dataframe(
            pd.DataFrame([{"name": p.name, "from": p.starts_on, "until (excl.)": p.ends_on} for p in periods]),
            hide_index=True,
            width="content",
        )
    with st.form("new_period", clear_on_submit=False):
        p1, p2, p3 = st.columns(3)
        pname = p1.text_input("Name", placeholder="2025-T1", key="period_name")
        starts = p2.date_input("From", value=date.today().replace(day=1), key="period_start")
        ends = p3.date_input("Until (excl.)", value=None, key="period_end")
        if st.form_submit_button("Add period"):
            if ends is None:
                st.error("Choose the end day.")
            elif made_period := ui.attempt(lambda: svc.create_period(user, pname, starts, ends)):
                done(
                    f"Period {ui.plain(made_period.name)} added ({made_period.starts_on} to "
                    f"{made_period.ends_on}, end day not included).",
                    "period_name",
                    "period_start",
                    "period_end",
                )

# ---------------------------------------------------------------- who sees what
with access_tab:
    st.caption(
        "Each grant of a group (who granted it, since when) and each referral in effect (a psychologist sees that "
        "one subject, not its group). Administrators see every group without a grant. The list is read when you ask "
        "for it, and each reading of it is logged, since it names referred subjects."
    )
    if st.button("Show who sees what", key="access_overview_show"):
        st.session_state[OVERVIEW_KEY] = ui.attempt(lambda: svc.access_overview(user))
    overview = st.session_state.get(OVERVIEW_KEY)
    if overview is not None:
        # Names and codes are typed by people: a dataframe shows them as they are, never as markdown.
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "user": e.username + ("" if e.user_active else " (disabled)"),
                        "role": e.role,
                        "group": e.group_name,
                        "access via": "referral of " + (e.subject_code or "") if e.via == "referral" else "grant",
                        "since": e.since,
                        "granted by": e.granted_by or "(not recorded)",
                    }
                    for e in overview
                ],
                columns=["user", "role", "group", "access via", "since", "granted by"],
            ),
            hide_index=True,
            width="stretch",
            column_config={"since": local_time.datetime_column("since", zone)},
            key="access_overview_table",
        )
        if overview:
            entries = dict(enumerate(overview))
            with st.form("revoke_access_entry"):
                pick = st.selectbox(
                    "Access to revoke",
                    list(entries),
                    format_func=lambda i: (
                        f"{entries[i].username}: {entries[i].group_name}"
                        + (f", referral of {entries[i].subject_code}" if entries[i].via == "referral" else " (grant)")
                    ),
                    key="access_revoke_pick",
                )
                if st.form_submit_button("Revoke this access"):
                    e = entries[pick]
                    if ui.succeeded(
                        lambda: (
                            svc.revoke_access(user, e.user_id, e.group_id)
                            if e.referral_id is None
                            else svc.revoke_referral(user, e.referral_id)
                        )
                    ):
                        st.session_state[OVERVIEW_KEY] = ui.attempt(lambda: svc.access_overview(user))
                        what = ui.plain(e.subject_code or e.group_name)
                        done(f"Revoked: {ui.plain(e.username)} no longer sees {what}.")
        else:
            st.info("Nobody has access through a grant or a referral yet.")

# ---------------------------------------------------------------- retention and deletion
# Names, codes and notes typed by users appear only in st.text, selectbox options and tables, never in markdown.


def counted(gone: dict[str, int]) -> str:
    return ", ".join(f"{what.replace('_', ' ')}: {n}" for what, n in gone.items())


with retention_tab:
    st.markdown("**Retention**")
    st.caption(
        "Each group's policy (Groups and access tab) says for how many days its sessions are kept. Older "
        "sessions, with their captures, kept photos and readings, are purged each time the app starts; Purge now "
        "does it at once. Each purge that deletes something leaves an audit row with the counts."
    )
    with_policy = [g for g in groups if g.retention_days is not None]
    if with_policy:
        st.dataframe(
            pd.DataFrame([{"group": g.name, "sessions kept (days)": g.retention_days} for g in with_policy]),
            hide_index=True,
            width="content",
        )
    else:
        st.info("No group has a retention policy: every session is kept until it is deleted.")
    if st.button("Purge now", key="purge_now"):
        purged = ui.attempt(lambda: svc.purge_expired(user))
        if purged is not None:
            st.success(f"Purged {counted(purged)}.")

    st.markdown("**Delete** (cannot be undone; the audit log keeps who deleted what, and how much)")
    st.markdown("*A period*, with every outcome recorded for it, in every group")
    periods_by_id = {p.id: p for p in periods}
    if periods_by_id:
        pid = st.selectbox(
            "Period", list(periods_by_id), format_func=lambda i: periods_by_id[i].name, key="delete_period"
        )
        st.text(f"To confirm, type the period's name: {periods_by_id[pid].name}")
        confirm_period = st.text_input("Period name", key="delete_period_confirm")
        if st.button(
            "Delete period and its outcomes",
            type="primary",
            key="delete_period_button",
            disabled=confirm_period.strip() != periods_by_id[pid].name,
        ):
            gone = ui.attempt(lambda: svc.delete_period(user, pid))
            if gone is not None:
                st.success(f"Deleted the period: {counted(gone)}.")
    else:
        st.info("No periods.")

    # No group is preselected: listing a group's subjects and sessions is an audited read of its pilot data,
    # made only once the admin picks the group, not on every click elsewhere on this page.
    group = st.selectbox(
        "Group to delete a subject, a session or the whole group from",
        groups,
        index=None,
        format_func=ui.group_label,
        placeholder="Choose a group",
        key="retention_group",
    )
    if group is not None:
        st.markdown(
            "*A subject*, with all their readings, outcomes and timeline notes, and every kept photo they were "
            "read from"
        )
        subjects = {s.id: s for s in (ui.attempt(lambda: svc.list_subjects(user, group.id)) or [])}
        if subjects:
            sid = st.selectbox(
                "Subject", list(subjects), format_func=lambda i: subjects[i].code, key="retention_subject"
            )
            st.text(f"To confirm, type the code: {subjects[sid].code}")
            confirm = st.text_input("Subject code", key="retention_confirm")
            if st.button(
                "Delete subject and all their data",
                type="primary",
                key="retention_delete",
                disabled=confirm.strip() != subjects[sid].code,
            ):
                gone = ui.attempt(lambda: svc.delete_subject(user, sid))
                if gone is not None:
                    st.success(f"Deleted the subject: {counted(gone)}.")
                    st.text(f"Deleted {subjects[sid].code}")
        else:
            st.info("This group has no subjects.")

        st.markdown("*A session*, with its captures, kept photos and readings")
        sessions = {m.id: m for m in (ui.attempt(lambda: svc.list_sessions(user, group.id)) or [])}
        if sessions:
            mid = st.selectbox(
                "Session", list(sessions), format_func=lambda i: ui.session_label(sessions[i]), key="delete_session"
            )
            confirm_session = st.text_input(f"Type the session number ({mid}) to confirm", key="delete_session_confirm")
            if st.button(
                "Delete session",
                type="primary",
                key="delete_session_button",
                disabled=confirm_session.strip().lstrip("#") != str(mid),
            ):
                gone = ui.attempt(lambda: svc.delete_session(user, mid))
                if gone is not None:
                    st.success(f"Deleted session {mid}: {counted(gone)}.")
        else:
            st.info("This group has no sessions.")

        st.markdown(
            "*The whole group*, with its subjects, sessions, captures, kept photos, readings, outcomes, notes, "
            "alert rule and grants"
        )
        st.text(f"To confirm, type the group's name: {group.name}")
        confirm_group = st.text_input("Group name", key="delete_group_confirm")
        if st.button(
            "Delete group and everything in it",
            type="primary",
            key="delete_group_button",
            disabled=confirm_group.strip() != group.name,
        ):
            gone = ui.attempt(lambda: svc.delete_group(user, group.id))
            if gone is not None:
                st.success(f"Deleted the group: {counted(gone)}.")

# ---------------------------------------------------------------- model
with model_tab:
    # The registry (Service.active_model): a checkpoint serves readings only once it passed its check on the
    # committed FER2013 sample and an administrator activated it; the configured and shipped ones register
    # themselves the first time they are seen.
    active = ui.active_model()
    try:
        model = ui.load_model(active)
    except ui.model_errors() as exc:  # the admin must still reach the registry below to repair it
        model = None
        st.error(ui.plain(exc))
    m1, m2, m3 = st.columns(3)
    m1.metric("Model version", active.version if active else "shipped (registry unreadable)")  # the active one
    if active is not None and active.report.get("accuracy") is not None:
        m2.metric(
            "Its check",
            f"{active.report['accuracy']:.0%} accuracy, {active.report.get('sign_agreement') or 0:.0%} VAD signs",
        )
    if model is not None:
        m3.metric("Runs on", str(model.device))
        training = model.meta.get("training", {})
        st.caption(  # a path and a checkpoint's metadata: shown as they are, never as Markdown
            ui.plain(
                f"{active.path if active else SHIPPED_CHECKPOINT} — training: "
                + ", ".join(f"{k}={v}" for k, v in training.items() if not isinstance(v, (dict, list)))
            )
        )
    card = PROJECT_ROOT / "MODEL_CARD.md"
    figures = read_model_figures(SHIPPED_CHECKPOINT) or {}
    card_is_current = (
        active is not None
        and Path(active.path).resolve() == SHIPPED_CHECKPOINT.resolve()
        and active.report.get("model_version") == figures.get("model_version")
    )
    if not card_is_current:
        st.warning(
            "The active model is not the shipped one: the model card below describes the shipped model "
            f"({ui.plain(figures.get('model_version', '?'))}), not the model in use.",
            icon=":material/warning:",
        )

    st.subheader("Registered models")
    st.caption(
        "A model may be activated only when it passed its check on the committed sample of real FER2013 faces "
        f"(PrivateTest, never trained on): accuracy at least {MIN_ACCURACY:.0%} and at least "
        f"{MIN_SIGN_AGREEMENT:.0%} of the V, A, D signs as the labelled class implies. "
        "Activation and rollback take effect at the next run of each page and are audited."
    )
    models = ui.attempt(lambda: svc.list_models(user)) or []
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "id": m.id,
                    "version": m.version,
                    "active": m.is_active,
                    "passed": m.passed,
                    "accuracy": m.report.get("accuracy"),
                    "VAD signs": m.report.get("sign_agreement"),
                    "failed checks": "; ".join(m.failed),
                    "registered": m.registered_at,
                    "by": m.registered_by or "(automatic)",
                    "activated": m.activated_at,
                    "path": m.path,
                }
                for m in models
            ]
        ),
        hide_index=True,
        column_config={
            "registered": local_time.datetime_column("registered", zone),
            "activated": local_time.datetime_column("activated", zone),
        },
    )
    with st.form("register_model"):
        path_typed = st.text_input("Checkpoint to register (a path on the server)", key="model_path")
        if st.form_submit_button("Register and check"):
            with st.spinner("Checking the model on the sample faces…"):
                registered = ui.attempt(lambda: svc.register_model(user, path_typed.strip()), "Not registered")
            if registered is not None:
                st.session_state[MODEL_REPORT_KEY] = registered
                done(
                    f"Registered {ui.plain(registered.version)}: "
                    + ("passed its check." if registered.passed else "did NOT pass its check (see below)."),
                    "model_path",
                )
    last = st.session_state.get(MODEL_REPORT_KEY)
    if last is not None:
        st.text(f"Check of {last.version}: {'passed' if last.passed else 'failed'}")
        for failure in last.failed:
            st.text(f"failed: {failure}")
        st.json(last.report, expanded=False)
    if models:
        chosen = st.selectbox(
            "Model",
            models,
            key="model_pick",
            format_func=lambda m: (
                f"#{m.id} {m.version} ({'passed' if m.passed else 'failed'}" + (", active)" if m.is_active else ")")
            ),
        )
        a1, a2 = st.columns(2)
        if a1.button("Activate", key="model_activate") and chosen is not None:
            activated = ui.attempt(lambda: svc.activate_model(user, chosen.id), "Not activated")
            if activated is not None:
                st.session_state.pop(MODEL_REPORT_KEY, None)
                done(f"Activated {ui.plain(activated.version)}; pages use it from their next run.")
        if a2.button("Roll back to the previous model", key="model_rollback"):
            back = ui.attempt(lambda: svc.rollback_model(user), "Not rolled back")
            if back is not None:
                done(f"Rolled back to {ui.plain(back.version)}; pages use it from their next run.")

    with st.expander("Model card", expanded=card.exists() and card_is_current):
        st.markdown(card.read_text(encoding="utf-8") if card.exists() else "_MODEL_CARD.md is not there yet._")
    st.markdown("**How to retrain**")
    st.code(
        "python scripts/train.py --smoke            # < 1 min: checks the whole pipeline (its model will not pass)\n"
        "python scripts/train.py --out runs/NAME    # the full run (GPU advised); --help lists every flag\n"
        "python scripts/evaluate.py --checkpoint runs/NAME/model.pt   # measure it on the full test splits\n"
        "# then here: register runs/NAME/model.pt, read its check, activate it if it passed",
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
    st.markdown("**Audit log**")
    st.caption(
        "Who did what, newest first. The log is read only when you ask for it here, and each reading of it is "
        f"itself logged with the filters used. Days and times are in {local_time.zone_name(zone)}; both days "
        "are included. The CSV keeps times in UTC."
    )
    vocabulary = ui.attempt(lambda: svc.audit_vocabulary(user)) or {}
    with st.form("audit_filters", clear_on_submit=False):
        a1, a2, a3 = st.columns(3)
        who_filter = a1.selectbox(
            "User", vocabulary.get("username", []), index=None, placeholder="anyone", key="audit_user"
        )
        action_filter = a2.selectbox(
            "Action", vocabulary.get("action", []), index=None, placeholder="any", key="audit_action"
        )
        type_filter = a3.selectbox(
            "Object type", vocabulary.get("object_type", []), index=None, placeholder="any", key="audit_type"
        )
        d1, d2, d3 = st.columns(3)
        since = d1.date_input("From day", value=None, key="audit_since")
        until = d2.date_input("To day", value=None, key="audit_until")
        limit = d3.number_input("At most rows", min_value=1, max_value=100_000, value=500, step=100, key="audit_limit")
        if st.form_submit_button("Show audit log"):
            st.session_state[AUDIT_KEY] = ui.attempt(
                lambda: svc.audit_log(
                    user,
                    limit=int(limit),
                    username=who_filter,
                    action=action_filter,
                    object_type=type_filter,
                    since=since,
                    until=until,
                    zone=zone,
                )
            )
    log = st.session_state.get(AUDIT_KEY)
    if log is not None:
        st.dataframe(
            log,
            hide_index=True,
            width="stretch",
            height=300,
            column_config={"at": local_time.datetime_column("at", zone)},
        )
        st.download_button(
            f"Download these {len(log):,} rows as CSV",
            to_csv(log, index=False, date_format="%Y-%m-%dT%H:%M:%SZ"),  # formula cells neutralised for spreadsheets
            file_name="vadlens_audit_log.csv",
            mime="text/csv",
            key="audit_download",
        )

# ---------------------------------------------------------------- deployment: the law (ui/deployment.py)
with deployment_tab:
    admin_section(svc, user)
