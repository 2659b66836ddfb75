"""Log in with a VAD Lens account."""

import streamlit as st

import ui

st.title("VAD Lens")
st.caption("Emotion class and Valence/Arousal/Dominance per face — pilot for schools and clinics.")
with st.columns([2, 3])[0].form("login"):
    username = st.text_input("Username", key="login_username")
    password = st.text_input("Password", type="password", key="login_password")
    submitted = st.form_submit_button("Log in", type="primary")
if submitted:
    user = ui.service().authenticate(username.strip(), password)
    if user is None:
        st.error("Wrong username or password, or the account is disabled.")
    else:
        st.session_state[ui.USER_KEY] = user
        st.rerun()
