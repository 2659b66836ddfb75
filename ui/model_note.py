"""The line every page that shows readings draws under its title: the active model's version and its model
card's headline (`db.deployment.model_in_use`: the card's figures only when the active model is the shipped
one)."""

from __future__ import annotations

import streamlit as st

import ui
from db.deployment import model_in_use
from vadcore.settings import SHIPPED_CHECKPOINT


def model_line() -> str:
    """'Model <version>. <headline>' for the model the app serves now (Admin, Model)."""
    in_use = model_in_use(ui.active_model(), SHIPPED_CHECKPOINT)
    return f"Model {in_use.version}. {in_use.headline}"


def show() -> None:
    # A version is a file's own metadata: shown as text, never as Markdown.
    st.caption(ui.plain(model_line()))
