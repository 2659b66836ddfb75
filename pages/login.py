"""Log in with a VAD Lens account."""

import streamlit as st

import ui

st.title("VAD Lens")
st.caption("Emotion class and Valence/Arousal/Dominance per face — pilot for schools and clinics.")
reason = st.session_state.pop(ui.LOGOUT_REASON_KEY, None)  # why the last log-in ended, shown once
if reason:
    st.error(reason)
with st.columns([2, 3])[0].form("login"):
    username = st.text_input("Username", key="login_username")
    password = st.text_input("Password", type="password", key="login_password")
    submitted = st.form_submit_button("Log in", type="primary")
if submitted:
    try:
        user = ui.service().authenticate(username.strip(), password, client=ui.client_address())
    except ui.user_errors() as exc:  # too many failed log-ins, or a busy database
        st.error(str(exc))
    else:
        if user is None:
            st.error("Wrong username or password, or the account is disabled.")
        else:
            ui.log_in(user)
            st.rerun()
