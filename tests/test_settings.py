"""One settings module: each environment variable overrides its documented default, and a bad value is
refused with a message that names the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from db import make_engine
from vadcore.settings import PROJECT_ROOT, SHIPPED_CHECKPOINT, Settings, SettingsError, get_settings

VARIABLES = (
    "DATABASE_URL",
    "VADLENS_CHECKPOINT",
    "VADLENS_DATA_DIR",
    "VADLENS_KEEP_IMAGES",
    "VADLENS_LOG_LEVEL",
    "VADLENS_IDLE_MINUTES",
)


def test_defaults_point_inside_the_checkout_and_beside_it():
    settings = Settings.from_env({})
    assert settings.database_url == f"sqlite:///{PROJECT_ROOT / 'var' / 'vadlens.db'}"
    assert settings.checkpoint == SHIPPED_CHECKPOINT and SHIPPED_CHECKPOINT.is_file()
    assert settings.data_dir == PROJECT_ROOT.parent / "shared" / "data"
    assert settings.keep_images_default is False
    assert settings.log_level == "INFO"
    assert settings.idle_minutes == 30


def test_each_variable_overrides_its_default(tmp_path: Path):
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql+psycopg://u:p@db/vadlens",
            "VADLENS_CHECKPOINT": str(tmp_path / "candidate.pt"),
            "VADLENS_DATA_DIR": str(tmp_path / "data"),
            "VADLENS_KEEP_IMAGES": "Yes",
            "VADLENS_LOG_LEVEL": "debug",
            "VADLENS_IDLE_MINUTES": " 15 ",
        }
    )
    assert settings.database_url == "postgresql+psycopg://u:p@db/vadlens"
    assert settings.checkpoint == tmp_path / "candidate.pt"
    assert settings.data_dir == tmp_path / "data"
    assert settings.keep_images_default is True
    assert settings.log_level == "DEBUG"
    assert settings.idle_minutes == 15


def test_an_empty_variable_means_the_default():
    assert Settings.from_env({name: "  " for name in VARIABLES}) == Settings.from_env({})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("VADLENS_KEEP_IMAGES", "maybe"),
        ("VADLENS_LOG_LEVEL", "loud"),
        ("VADLENS_IDLE_MINUTES", "0"),
        ("VADLENS_IDLE_MINUTES", "half an hour"),
        ("VADLENS_IDLE_MINUTES", "1441"),
    ],
)
def test_a_bad_value_is_refused_with_the_variable_named(name: str, value: str):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_the_database_engine_follows_the_setting_at_call_time(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'other.db'}")
    assert get_settings().database_url.endswith("other.db")
    engine = make_engine()
    assert engine.url.database == str(tmp_path / "other.db")
    engine.dispose()
