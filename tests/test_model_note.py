"""Pages that show readings name the active model's version and its model card's headline (ui.model_note)."""

from __future__ import annotations

import pytest

from db.deployment import model_in_use
from vadcore.settings import SHIPPED_CHECKPOINT

from helpers import PASSWORDS, app_log_in

pytestmark = pytest.mark.skipif(not SHIPPED_CHECKPOINT.exists(), reason=f"{SHIPPED_CHECKPOINT} is absent")


@pytest.mark.slow  # drives the app; the first page run registers and checks the shipped model
def test_the_explorer_names_the_active_model_and_its_cards_headline(app_service):
    admin = app_service.create_first_admin("admin", PASSWORDS["admin"], "Ada Admin")
    teacher = app_service.create_user(admin, "teacher", PASSWORDS["teacher"], "teacher")
    klass = app_service.create_group(admin, "Class 4B", "class")
    app_service.grant_access(admin, teacher.id, klass.id)

    at = app_log_in("teacher")
    at.switch_page("pages/explorer.py").run()
    assert not at.exception, at.exception

    active = app_service.active_model()
    expected = model_in_use(active, SHIPPED_CHECKPOINT)
    assert expected.figures is not None and expected.figures["headline"] is not None  # the shipped model serves
    captions = [str(c.value) for c in at.caption]
    line = next(c for c in captions if c.startswith("Model ")).replace("\\", "")  # ui.plain escapes Markdown
    assert expected.version in line
    assert "Model card: " in line and "deduplicated PrivateTest" in line
    assert f"{expected.figures['headline']['accuracy']:.1%}" in line
