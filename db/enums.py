"""The fixed vocabularies and limits of the store, in plain Python so that pages can offer them without
loading SQLAlchemy. `db.models` turns them into CHECK constraints; the service layer validates against them."""

from __future__ import annotations

ROLES: tuple[str, ...] = ("admin", "teacher", "psychologist")
GROUP_KINDS: tuple[str, ...] = ("class", "caseload")
CONSENT_STATUSES: tuple[str, ...] = ("pending", "granted", "withdrawn")
CAPTURE_SOURCES: tuple[str, ...] = ("upload", "camera", "simulated", "video")
# Who may open subjects' timelines, set a group's alert rule and read or write timeline notes (always within
# the groups they were granted); teachers see readings, not per-person trends and clinical notes.
TIMELINE_ROLES: tuple[str, ...] = ("admin", "psychologist")
# Who may refer a subject to a psychologist (a teacher within the groups they were granted).
REFERRER_ROLES: tuple[str, ...] = ("teacher", "admin")
# A timeline note is 1…TIMELINE_NOTE_MAX_CHARS characters once stripped of surrounding white space.
TIMELINE_NOTE_MAX_CHARS = 2000
# The deployment record (one per installation), which decides whether emotion recognition may run at all:
# the EU AI Act, Art. 5(1)(f), prohibits it in education institutions and workplaces unless it is intended
# for medical or safety reasons. The rule itself is in db.deployment.
JURISDICTIONS: tuple[str, ...] = ("eu", "outside_eu")  # "eu": the EU/EEA, where the AI Act applies
DEPLOYMENT_SETTINGS: tuple[str, ...] = ("education", "workplace", "healthcare", "research", "other")
DEPLOYMENT_PURPOSES: tuple[str, ...] = ("medical", "safety", "research", "education", "other")
# A group's retention policy: readings, captures and sessions older than this many days are purged.
RETENTION_DAYS_MAX = 3650
# Names people type, at most this long (the columns' sizes in db.models).
GROUP_NAME_MAX_CHARS = 128
DISPLAY_NAME_MAX_CHARS = 128
PERIOD_NAME_MAX_CHARS = 32
# A subject code: 1…SUBJECT_CODE_MAX_CHARS characters once normalised (db.services).
SUBJECT_CODE_MAX_CHARS = 64
