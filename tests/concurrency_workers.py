"""What the processes of tests/test_db_concurrency.py run: a writer saving captures (and now and then a subject)
through the service, and a reader reading readings and sessions, each reporting what happened to a queue.

Top-level functions, so that a spawned process (no fork of the test process's open connections) can import
them; each opens its own engine on the test's database.
"""

from __future__ import annotations

import time
import traceback
from typing import Any

BUSY_MESSAGE = "The database is busy; nothing was saved. Try again in a moment."


def _service(url: str, connect_args: dict) -> Any:
    from db import make_engine
    from db.services import Service

    return Service(make_engine(url, connect_args=connect_args))


def writer(number: int, job: dict, go: Any, results: Any) -> None:
    """Save `job["n"]` captures of three readings (and a subject every fifth save) as fast as it can."""
    try:
        from db.errors import StoreBusy
        from db.views import UserInfo
        from vadcore.readings import FaceReading
        from vadcore.taxonomy import CLASS_NAMES

        service = _service(job["url"], job["connect_args"])
        actor = UserInfo(**job["actor"])
        reading = FaceReading("neutral", {c: 1 / 7 for c in CLASS_NAMES}, 0.0, 0.0, 0.0, "test-1")
        captures: list[int] = []
        subjects: list[str] = []
        busy: list[str] = []
        times: list[float] = []
        go.wait()
        for i in range(job["n"]):
            started = time.perf_counter()
            try:
                if i % 5 == 4:
                    code = f"W{number}-{i}"
                    service.create_subject(actor, job["group_id"], code, "granted")
                    subjects.append(code)
                result = service.save_capture(
                    actor, job["session_id"], [reading] * 3, [job["subject_id"]] * 3, "b" * 64, "upload"
                )
                captures.append(result.capture_id)
            except StoreBusy as exc:  # the only refusal allowed: the user is asked to try again
                busy.append(str(exc))
            times.append(time.perf_counter() - started)
        service.engine.dispose()
        results.put(("writer", number, {"captures": captures, "subjects": subjects, "busy": busy, "times": times}))
    except BaseException:
        results.put(("writer", number, {"error": traceback.format_exc()}))


def reader(number: int, job: dict, go: Any, stop: Any, results: Any) -> None:
    """Read the session's readings and the group's sessions until told to stop."""
    try:
        from db.errors import StoreBusy
        from db.views import UserInfo

        service = _service(job["url"], job["connect_args"])
        actor = UserInfo(**job["actor"])
        reads, busy, times = 0, 0, []
        go.wait()
        while not stop.is_set():
            started = time.perf_counter()
            try:
                service.readings_frame(actor, session_id=job["session_id"])
                service.list_sessions(actor, job["group_id"])
                reads += 1
            except StoreBusy:  # a read's audit row could not be written: no data was returned
                busy += 1
            times.append(time.perf_counter() - started)
        service.engine.dispose()
        results.put(("reader", number, {"reads": reads, "busy": busy, "times": times}))
    except BaseException:
        results.put(("reader", number, {"error": traceback.format_exc()}))
