"""The logged-in user's own account: change the password."""

import streamlit as st

import ui

user = ui.require_user()
st.title("My account")
# names are shown as typed (escaped), never as Markdown
st.write(f"**{ui.plain(user.username)}** — {ui.plain(user.display_name or 'no display name')} — role: {user.role}")
with st.form("password", clear_on_submit=True):
    current = st.text_input("Current password", type="password", key="own_current")
    new = st.text_input("New password", type="password", key="own_password")
    repeat = st.text_input("Repeat the new password", type="password", key="own_repeat")
    submitted = st.form_submit_button("Change password")
if submitted:
    if new != repeat:
        st.error("The two passwords differ.")
    else:
        renewed = ui.attempt(lambda: ui.service().change_password(user, current, new))
        if renewed is not None:  # this session goes on; the account's other sessions end at their next step
            ui.log_in(renewed)
            st.success("Password changed. Other browsers logged in as you are logged out.")
