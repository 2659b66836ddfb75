"""First start on an empty database: create the first administrator account."""

import streamlit as st

import ui

st.title("Welcome to VAD Lens")
st.info(
    "This database has no administrator yet. Create the first administrator account; "
    "that person then creates the other users and the groups."
)
with st.columns([2, 3])[0].form("first_admin"):
    username = st.text_input("Username", key="first_username")
    display_name = st.text_input("Display name", key="first_display")
    password = st.text_input("Password", type="password", key="first_password")
    repeat = st.text_input("Repeat the password", type="password", key="first_repeat")
    submitted = st.form_submit_button("Create administrator", type="primary")
if submitted:
    if password != repeat:
        st.error("The two passwords differ.")
    else:
        admin = ui.attempt(lambda: ui.service().create_first_admin(username, password, display_name))
        if admin is not None:
            ui.log_in(admin)
            st.rerun()
