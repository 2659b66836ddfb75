"""The deployment record in the app: the analysis pages' gate, the Admin page's Deployment tab (the record, the
legal explanation, the record of processing) and each group's notice and consent sheet.

The rule and the texts are `db.deployment`'s; the service enforces the rule on every save. What an administrator
typed (organisation, contact, protocol) is shown with st.text, never as markdown.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import streamlit as st

import ui
from db.deployment import (
    DISCLAIMER,
    JURISDICTION_LABELS,
    LEGAL_EXPLANATION,
    PURPOSE_LABELS,
    SETTING_LABELS,
    processing_record_markdown,
)
from db.enums import DEPLOYMENT_PURPOSES, DEPLOYMENT_SETTINGS, JURISDICTIONS
from db.views import GroupInfo, UserInfo
from ui import local_time

if TYPE_CHECKING:
    from db.services import Service

RECORD_KEY = "processing_record"  # session_state: the prepared record of processing (a dict)


def require_analysis_allowed(svc: Service, user: UserInfo) -> None:
    """Stop an analysis page, with the reason and the article, while the deployment record does not allow
    analysis (the service would refuse every save anyway); otherwise a one-line reminder to inform people."""
    verdict = ui.attempt(lambda: svc.analysis_verdict(user))
    if verdict is None:
        st.stop()
    if not verdict.allowed:
        st.error(f"Analysis is switched off: {verdict.reason}.", icon=":material/gavel:")
        st.caption(f"{verdict.article}. {DISCLAIMER}")
        if user.role == "admin":
            st.info("Record or correct the deployment on the Admin page, Deployment tab.")
        else:
            st.info(
                "Ask an administrator: the deployment is recorded on the Admin page. Stored readings stay readable "
                "on the other pages."
            )
        st.stop()
    st.caption(
        "People analysed must be told that emotion recognition is used on them (EU AI Act, Art. 50(3)): the "
        "Subjects page prints each group's notice and consent sheet."
    )


def warn_unrecorded_deployment(svc: Service, user: UserInfo) -> None:
    """At the top of the Admin page, until the deployment is recorded (the first thing to do after the first
    administrator exists): analysis is off until then."""
    if ui.attempt(lambda: svc.deployment(user)) is None:
        st.warning(
            "Record the deployment first (Deployment tab): where, in what setting and for what purpose VAD Lens is "
            "used. Until then no photo or video can be analysed.",
            icon=":material/gavel:",
        )


def admin_section(svc: Service, user: UserInfo) -> None:
    """The Admin page's Deployment tab: the current record and verdict, the form, the record of processing."""
    current = ui.attempt(lambda: svc.deployment(user))
    verdict = ui.attempt(lambda: svc.analysis_verdict(user))
    st.markdown(LEGAL_EXPLANATION)
    if current is None:
        st.warning("No deployment is recorded yet: analysis stays off until you record it below.")
    else:
        st.markdown("**Recorded deployment**")
        st.text(
            f"Organisation: {current.organisation}\n"
            f"Contact: {current.contact}\n"
            f"Where: {JURISDICTION_LABELS.get(current.jurisdiction, current.jurisdiction)}\n"
            f"Setting: {SETTING_LABELS.get(current.setting, current.setting)}\n"
            f"Purpose: {PURPOSE_LABELS.get(current.purpose, current.purpose)}\n"
            f"Research protocol: {current.protocol_ref or '(none)'}\n"
            f"Recorded by {current.recorded_by}, {local_time.local_text(current.recorded_at, local_time.user_zone())}"
        )
    if verdict is not None:
        (st.success if verdict.allowed else st.error)(
            f"Analysis {'allowed' if verdict.allowed else 'switched off'}: {verdict.reason}. ({verdict.article})"
        )
        if verdict.obligations:
            st.markdown("**What you must still do** (the app cannot do it for you)")
            st.markdown("\n".join(f"- {o}" for o in verdict.obligations))

    with st.form("deployment"):
        st.markdown("**Record the deployment** (replaces the record; the audit log keeps each one)")
        organisation = st.text_input(
            "Organisation (the controller, as named on notices)",
            value=current.organisation if current else "",
            max_chars=200,
            key="deployment_organisation",
        )
        contact = st.text_input(
            "Contact for questions and withdrawal of consent (e.g. the data-protection officer's address)",
            value=current.contact if current else "",
            max_chars=200,
            key="deployment_contact",
        )
        # No preselected answer on first start: each is a statement the administrator must make knowingly.
        left, middle, right = st.columns(3)
        jurisdiction = left.selectbox(
            "Where",
            JURISDICTIONS,
            index=JURISDICTIONS.index(current.jurisdiction) if current else None,
            placeholder="Choose…",
            format_func=lambda v: JURISDICTION_LABELS[v],
            key="deployment_jurisdiction",
        )
        setting = middle.selectbox(
            "Setting",
            DEPLOYMENT_SETTINGS,
            index=DEPLOYMENT_SETTINGS.index(current.setting) if current else None,
            placeholder="Choose…",
            format_func=lambda v: SETTING_LABELS[v],
            key="deployment_setting",
        )
        purpose = right.selectbox(
            "Purpose",
            DEPLOYMENT_PURPOSES,
            index=DEPLOYMENT_PURPOSES.index(current.purpose) if current else None,
            placeholder="Choose…",
            format_func=lambda v: PURPOSE_LABELS[v],
            key="deployment_purpose",
        )
        protocol = st.text_input(
            "Research protocol reference (required for a research purpose, e.g. the ethics approval number)",
            value=current.protocol_ref if current else "",
            max_chars=200,
            key="deployment_protocol",
        )
        if st.form_submit_button("Record deployment", type="primary") and ui.succeeded(
            lambda: svc.record_deployment(user, organisation, contact, jurisdiction, setting, purpose, protocol)
        ):
            st.rerun()

    st.markdown("**Record of processing** — to start a data-protection impact assessment (GDPR Art. 35)")
    st.caption(
        "Controller, purposes, categories of data, each group's retention and access, the model in use and its "
        "measured accuracy, and the verdict above. Preparing it is audited."
    )
    if st.button("Prepare the record of processing", key="prepare_processing_record"):
        st.session_state[RECORD_KEY] = ui.attempt(lambda: svc.processing_record(user))
    record = st.session_state.get(RECORD_KEY)
    if record:
        md, js = st.columns(2)
        md.download_button(
            "Download as Markdown",
            processing_record_markdown(record),
            file_name="vadlens_record_of_processing.md",
            mime="text/markdown",
            key="processing_record_md",
        )
        js.download_button(
            "Download as JSON",
            json.dumps(record, indent=1, ensure_ascii=False),
            file_name="vadlens_record_of_processing.json",
            mime="application/json",
            key="processing_record_json",
        )


def notice_download(svc: Service, user: UserInfo, group: GroupInfo) -> None:
    """A download button for the group's notice and consent sheet (a Markdown file to print and hand out)."""
    sheet = ui.attempt(lambda: svc.notice_sheet(user, group.id))
    if sheet is None:
        return
    st.download_button(
        "Notice and consent sheet for this group (to print and hand out)",
        sheet,
        file_name=f"vadlens_notice_group_{group.id}.md",
        mime="text/markdown",
        key=f"notice_sheet_{group.id}",
        icon=":material/description:",
    )
