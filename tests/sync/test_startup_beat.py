"""Beat's start-up refresh retries until the database is ready (issue 17 item 7): a real `celery beat` process is
started while its database does not exist yet; the database is then created and migrated; beat's start-up refresh
goes through by itself and queues a refresh of every upstream whose data are missing."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from .conftest import ROOT, wait_for

pytestmark = pytest.mark.slow


def _log(path) -> str:
    return path.read_bytes().decode(errors="replace") if path.exists() else ""


def test_the_start_up_refresh_waits_for_the_database_then_queues(tmp_path):
    from proctordash.celery import app

    later = tmp_path / "not-yet"  # the database's directory does not exist: every connection fails
    db_url = f"sqlite:///{later / 'db.sqlite3'}"
    env = {**os.environ, "DATABASE_URL": db_url, "LOG_LEVEL": "INFO"}
    log_path = tmp_path / "beat.log"
    with open(log_path, "wb") as log:
        beat = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "proctordash", "beat", "--loglevel", "INFO",
             "--schedule", str(tmp_path / "celerybeat-schedule")],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            # at least two failed attempts: beat keeps trying while the database is missing
            wait_for(lambda: _log(log_path).count("not ready yet") >= 2, timeout=60, interval=0.2,
                     what="beat to try the start-up refresh twice")
            assert beat.poll() is None, _log(log_path)[-2000:]
            assert "Start-up refresh: queued" not in _log(log_path)

            later.mkdir()
            subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True,
                           timeout=300)
            wait_for(lambda: "Start-up refresh: queued" in _log(log_path), timeout=90, interval=0.5,
                     what="the start-up refresh to go through once the database is there")
        finally:
            beat.terminate()
            try:
                beat.wait(20)
            except subprocess.TimeoutExpired:
                beat.kill()
                beat.wait(10)
    con = sqlite3.connect(later / "db.sqlite3")
    try:
        runs = sorted(con.execute("SELECT kind, outcome FROM monitoring_syncrun").fetchall())
    finally:
        con.close()
    assert runs == [("appointments_full", "queued"), ("proctorexam", "queued")]
    assert "appointments_full, proctorexam" in _log(log_path)
    app.control.purge()  # those tasks were for the throw-away database


def test_refresh_when_ready_backs_off_and_can_give_up(monkeypatch):
    """The retry loop's timing, with time mocked: 1, 2, 4 … capped, and give_up_after honoured."""
    from django.db import OperationalError

    from proctordash.sync import startup

    calls = []
    monkeypatch.setattr(startup, "refresh_stale_data", lambda: calls.append(1) or (_ for _ in ()).throw(
        OperationalError("database is starting up")))
    slept: list[float] = []
    clock = [0.0]

    def sleep(seconds):
        slept.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(startup.time, "monotonic", lambda: clock[0])
    assert startup.refresh_stale_data_when_ready(max_delay=8, give_up_after=40, sleep=sleep) is None
    assert slept == [1, 2, 4, 8, 8, 8, 8] and len(calls) == 8  # 39 s slept; one more wait would pass 40

    results = iter([OperationalError("not yet"), ["proctorexam"]])

    def flaky():
        result = next(results)
        if isinstance(result, Exception):
            raise result
        return result

    monkeypatch.setattr(startup, "refresh_stale_data", flaky)
    assert startup.refresh_stale_data_when_ready(sleep=sleep) == ["proctorexam"]

