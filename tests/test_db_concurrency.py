"""The store under load, on SQLite and PostgreSQL: writer processes, readers and a burst of wrong passwords at
once lose no save (each one is either stored or refused with the plain "busy, try again" message), and
simultaneous requests that must not both succeed (the first administrator, overlapping periods, one name
twice) give exactly one success and plain refusals, never a raw database error.

The timing figures are printed (run with -s to see them), never asserted.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
import time
import types
from datetime import date

import concurrency_workers
import pytest
from argon2 import PasswordHasher
from sqlalchemy import text

from db.errors import InvalidInput, LoginThrottled, PermissionDenied, StoreBusy
from db.services import LOCK_AFTER

WRITERS, SAVES_EACH, READERS, BURST_THREADS = 8, 25, 2, 6


def _actor(user) -> dict:
    return {k: getattr(user, k) for k in ("id", "username", "role", "display_name", "is_active")}


def _percentile(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def _password_burst(service, names: list[str], stop: threading.Event, outcomes: list[str]) -> list[threading.Thread]:
    """One thread per account: wrong passwords, one after another, until `stop`."""

    def guess(name: str, client: str) -> None:
        while not stop.is_set():
            try:
                outcome = "wrong" if service.authenticate(name, "not-the-password", client=client) is None else "in"
            except LoginThrottled:
                outcome = "throttled"
            except StoreBusy:
                outcome = "busy"
            except BaseException as exc:  # reported by the test: a thread's exception would be lost
                outcome = f"error: {exc!r}"
            outcomes.append(outcome)
            time.sleep(0.1)

    threads = [threading.Thread(target=guess, args=(n, f"192.0.2.{i}")) for i, n in enumerate(names)]
    for t in threads:
        t.start()
    return threads


@pytest.mark.slow
def test_writers_readers_and_a_password_burst_lose_nothing(database, service, admin, monkeypatch):
    # An AppTest earlier in the run leaves Streamlit's script module (main.py) as __main__, and a spawned process
    # re-runs the parent's __main__ file before its target: give the workers an empty one instead.
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    group = service.create_group(admin, "7a", "class")
    subject = service.create_subject(admin, group.id, "S-01", "granted")
    meeting = service.create_session(admin, group.id)
    # Accounts whose hashes have the real (default) Argon2 cost, to be guessed at while the writers write.
    names = [f"burst-{i}" for i in range(BURST_THREADS)]
    for name in names:
        user = service.create_user(admin, name, "burst-password-1", "teacher")
        with service.engine.begin() as conn:
            conn.execute(
                text("UPDATE users SET password_hash = :h WHERE id = :id"),
                {"h": PasswordHasher().hash("burst-password-1"), "id": user.id},
            )
    job = {
        "url": database.url,
        "connect_args": database.connect_args,
        "actor": _actor(admin),
        "group_id": group.id,
        "session_id": meeting.id,
        "subject_id": subject.id,
        "n": SAVES_EACH,
    }
    ctx = multiprocessing.get_context("spawn")  # no fork of this process's open connections
    go, stop, results = ctx.Event(), ctx.Event(), ctx.Queue()
    writers = [ctx.Process(target=concurrency_workers.writer, args=(i, job, go, results)) for i in range(WRITERS)]
    readers = [ctx.Process(target=concurrency_workers.reader, args=(i, job, go, stop, results)) for i in range(READERS)]
    for proc in writers + readers:
        proc.start()
    time.sleep(3)  # let the processes import and open their databases; they wait for `go`
    burst_stop, outcomes = threading.Event(), []
    started = time.perf_counter()
    go.set()
    burst = _password_burst(service, names, burst_stop, outcomes)

    reports: dict[str, list] = {"writer": [], "reader": []}
    try:
        while len(reports["writer"]) < WRITERS:
            kind, _, report = results.get(timeout=240)
            reports[kind].append(report)
        elapsed = time.perf_counter() - started
    finally:
        stop.set()
        burst_stop.set()
        for t in burst:
            t.join()
    while len(reports["reader"]) < READERS:
        kind, _, report = results.get(timeout=120)
        reports[kind].append(report)
    for proc in writers + readers:
        proc.join(timeout=60)
    errors = [r["error"] for r in reports["writer"] + reports["reader"] if "error" in r]
    assert errors == [], errors[0]

    saved = [c for r in reports["writer"] for c in r["captures"]]
    subjects = [code for r in reports["writer"] for code in r["subjects"]]
    busy = [m for r in reports["writer"] for m in r["busy"]]
    times = [t for r in reports["writer"] for t in r["times"]]
    read_times = [t for r in reports["reader"] for t in r["times"]]
    with service.engine.connect() as conn:
        stored = set(conn.execute(text("SELECT id FROM captures WHERE session_id = :s"), {"s": meeting.id}).scalars())
        n_readings = conn.execute(
            text("SELECT count(*) FROM face_readings r JOIN captures c ON r.capture_id = c.id WHERE c.session_id = :s"),
            {"s": meeting.id},
        ).scalar()
        stored_subjects = set(conn.execute(text("SELECT code FROM subjects WHERE code LIKE 'W%'")).scalars())
        locked = conn.execute(text("SELECT count(*) FROM users WHERE username LIKE 'burst-%' AND failed_logins >= 5"))
        n_locked = locked.scalar()
    print(
        f"\n{service.engine.dialect.name}: {WRITERS} writers x {SAVES_EACH} saves in {elapsed:.1f} s: "
        f"{len(saved)} captures saved, {len(busy)} refused as busy, {len(stored)} stored, {n_readings} readings; "
        f"{len(subjects)} subjects saved, {len(stored_subjects)} stored; slowest save {max(times):.2f} s, "
        f"99th percentile {_percentile(times, 0.99):.2f} s, median {_percentile(times, 0.5):.3f} s; "
        f"{sum(r['reads'] for r in reports['reader'])} reads (slowest {max(read_times, default=0):.2f} s, "
        f"{sum(r['busy'] for r in reports['reader'])} busy); password burst: "
        + ", ".join(f"{outcomes.count(o)} {o}" for o in sorted(set(outcomes)))
    )
    # Every save is accounted for: stored, or refused with the message the app shows. None is lost.
    assert len(times) == WRITERS * SAVES_EACH
    assert set(busy) <= {concurrency_workers.BUSY_MESSAGE}
    assert len(saved) + len(busy) == WRITERS * SAVES_EACH and stored == set(saved)
    assert n_readings == 3 * len(saved)
    assert stored_subjects == set(subjects)
    # The burst met wrong passwords, then the lock; nothing else went wrong.
    assert not [o for o in outcomes if o.startswith("error") or o == "in"]
    assert outcomes.count("wrong") >= LOCK_AFTER * BURST_THREADS and n_locked == BURST_THREADS


def _at_once(n: int, call) -> list:
    """Run `call(i)` in `n` threads released together; each result or exception, in order."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = call(i)
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _one_success(results: list, refusal: type[Exception], message: str) -> None:
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == len(results) - 1, results
    assert all(isinstance(r, refusal) and message in str(r) for r in refused), refused


def test_six_simultaneous_first_admin_requests_make_one_admin(service):
    results = _at_once(6, lambda i: service.create_first_admin(f"boss-{i}", "boss-password-1"))
    _one_success(results, PermissionDenied, "an administrator already exists")
    with service.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM users WHERE role = 'admin'")).scalar() == 1


def test_simultaneous_overlapping_periods_make_one_period(service, admin):
    for year in (2026, 2027, 2028):  # a few rounds: without the lock, most rounds make several
        results = _at_once(
            6, lambda i, y=year: service.create_period(admin, f"{y}-T{i}", date(y, 1, 1 + i), date(y, 4, 1))
        )
        _one_success(results, InvalidInput, "period overlaps")
    assert len(service.list_periods(admin)) == 3


@pytest.mark.parametrize("what", ["user", "group", "period"])
def test_one_name_asked_for_at_once_is_given_once_with_plain_refusals(service, admin, what):
    calls = {
        "user": (lambda i: service.create_user(admin, "dup", "dup-password-1", "teacher"), "username 'dup' is taken"),
        "group": (lambda i: service.create_group(admin, "dup", "class"), "group 'dup' exists"),
        "period": (
            lambda i: service.create_period(admin, "dup", date(2026 + i, 1, 1), date(2026 + i, 4, 1)),
            "period 'dup' exists",
        ),
    }
    call, message = calls[what]
    _one_success(_at_once(6, call), InvalidInput, message)


def test_one_subject_referred_at_once_to_one_psychologist_is_referred_once(service, admin):
    """The service's check sees no open referral in any of the simultaneous requests; the open-referral index
    (migration 0009) lets exactly one in and the others get the plain "referred already" refusal."""
    psy = service.create_user(admin, "psych", "psych-password-1", "psychologist")
    group = service.create_group(admin, "7a", "class")
    for i in range(3):  # a few rounds: without the index, most rounds on PostgreSQL open several
        subject = service.create_subject(admin, group.id, f"S-0{i}", "granted")
        results = _at_once(6, lambda _, s=subject: service.refer_subject(admin, s.id, psy.id))
        _one_success(results, InvalidInput, f"subject 'S-0{i}' is referred to psych already")
    with service.engine.connect() as conn:
        open_rows = conn.execute(text("SELECT subject_id FROM referrals WHERE revoked_at IS NULL")).scalars().all()
    assert len(open_rows) == len(set(open_rows)) == 3
