"""Where VAD Lens finds its database, model and data, and how much it logs: one place for all of it.

Each setting comes from an environment variable, read when `get_settings()` is called (so a test or a
deployment can change it without touching code); unset or empty means the documented default:

| variable            | setting               | default                                              |
| ------------------- | --------------------- | ---------------------------------------------------- |
| DATABASE_URL        | database_url          | sqlite:///<project>/var/vadlens.db                   |
| VADLENS_CHECKPOINT  | checkpoint            | <project>/models/vadlens_resnet18.pt (the shipped one) |
| VADLENS_DATA_DIR    | data_dir              | <project>/../shared/data                             |
| VADLENS_KEEP_IMAGES | keep_images_default   | false (new groups keep no photos unless ticked)      |
| VADLENS_LOG_LEVEL   | log_level             | INFO                                                 |
| VADLENS_IDLE_MINUTES | idle_minutes         | 30 (a log-in ends after this long without a step)    |

The project is installed in editable mode (`requirements.txt`), so `PROJECT_ROOT` is the checkout.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_CHECKPOINT = PROJECT_ROOT / "models" / "vadlens_resnet18.pt"
VAR_DIR = PROJECT_ROOT / "var"  # local databases and caches (ignored by git)
RUNS_DIR = PROJECT_ROOT / "runs"  # training and ablation runs (ignored by git)
REPORTS_DIR = PROJECT_ROOT / "reports"  # evaluation reports (ignored by git)

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEFAULT_IDLE_MINUTES = 30
MAX_IDLE_MINUTES = 24 * 60
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class SettingsError(ValueError):
    """An environment variable holds a value VAD Lens cannot use; the message names it."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    checkpoint: Path
    data_dir: Path
    keep_images_default: bool
    log_level: str
    idle_minutes: int = DEFAULT_IDLE_MINUTES

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def value(name: str) -> str | None:
            return (env.get(name) or "").strip() or None

        return cls(
            database_url=value("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'vadlens.db'}",
            checkpoint=Path(value("VADLENS_CHECKPOINT") or SHIPPED_CHECKPOINT),
            data_dir=Path(value("VADLENS_DATA_DIR") or PROJECT_ROOT.parent / "shared" / "data"),
            keep_images_default=_boolean("VADLENS_KEEP_IMAGES", value("VADLENS_KEEP_IMAGES") or "false"),
            log_level=_log_level(value("VADLENS_LOG_LEVEL") or "INFO"),
            idle_minutes=_idle_minutes(value("VADLENS_IDLE_MINUTES") or str(DEFAULT_IDLE_MINUTES)),
        )


def get_settings() -> Settings:
    """The settings as the environment says now."""
    return Settings.from_env()


def configure_logging(level: str | None = None) -> None:
    """For entry points (the app, the scripts): log records to stderr at `level` (default: the setting)."""
    logging.basicConfig(
        level=level or get_settings().log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


def _boolean(name: str, text: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise SettingsError(f"{name}={text!r}: use one of {', '.join(_TRUE + _FALSE)}")


def _log_level(text: str) -> str:
    if text.upper() not in LOG_LEVELS:
        raise SettingsError(f"VADLENS_LOG_LEVEL={text!r}: use one of {', '.join(LOG_LEVELS)}")
    return text.upper()


def _idle_minutes(text: str) -> int:
    try:
        minutes = int(text)
    except ValueError:
        minutes = 0
    if not 1 <= minutes <= MAX_IDLE_MINUTES:
        raise SettingsError(
            f"VADLENS_IDLE_MINUTES={text!r}: use a whole number of minutes from 1 to {MAX_IDLE_MINUTES}"
        )
    return minutes
