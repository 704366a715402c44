"""The live monitor's 15-second poll over 2,000 live ProctorExam sessions (in-process, SQLite, loopback only).

Usage: .venv/bin/python benchmarks/bench_monitor_poll.py [--sessions 2000] [--rounds 60]

Builds a throw-away SQLite cache (migrations applied) with `--sessions` sessions spread over 10 open exams, 300
incidents and 100 SmarterProctoring appointments around now, signs a support user in, loads /monitor/ once to get
the row versions the page holds, then times POST /monitor/poll/ through Django's full middleware stack (test
Client) in four cases: nothing changed (204), 10 rows changed (10 out-of-band rows), one session appeared (one
inserted row) and one session left (one deleted row). Prints p50 / p95 per case, and the full page for comparison.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()

    os.environ.update({
        "DJANGO_DEBUG": "true", "PROCTORDASH_VAR_DIR": tempfile.mkdtemp(prefix="bench-monitor-"),
        "DJANGO_SETTINGS_MODULE": "proctordash.settings", "DJANGO_SECRET_KEY": secrets.token_hex(32),
        "REDIS_URL": "redis://127.0.0.1:1",  # the poll must not need Redis; nothing listens there
        "DJANGO_ALLOWED_HOSTS": "testserver",
    })
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    from datetime import timedelta

    from proctordash.accounts.services import staff_add
    from django.contrib.auth import get_user_model
    from proctordash.monitoring.models import StudentSession
    from proctordash.sync.models import UpstreamState
    from tests.monitoring.factories import (AppointmentFactory, IncidentFactory, ProctorExamExamFactory,
                                            StudentSessionFactory)

    now = timezone.now()
    exams = [ProctorExamExamFactory() for _ in range(10)]
    statuses = ["exam_started"] * 6 + ["in_setup", "after_check_req", "exam_finished", "exam_not_started"]
    sessions = StudentSessionFactory.build_batch(args.sessions)
    for i, s in enumerate(sessions):
        s.exam = exams[i % 10]
        s.status = statuses[i % len(statuses)]
        s.incident_count = 1 if i % 7 == 0 else 0
        if i % 13 == 0:
            s.microphone_check = "failed"
    StudentSession.objects.bulk_create(sessions, batch_size=500)
    for i, s in enumerate(sessions[:: max(1, args.sessions // 300)]):
        IncidentFactory(student_session=s, first_seen_at=now - timedelta(minutes=30 if i % 2 else 1))
    for i in range(100):
        AppointmentFactory(appointment_date=now + timedelta(minutes=i - 50),
                           status=["Scheduled", "Needs Proctor", "In Progress"][i % 3])
    UpstreamState.objects.create(upstream="proctorexam", last_success_at=now)
    UpstreamState.objects.create(upstream="smarterproctoring", last_success_at=now)
    staff_add(username="bench", role="support", courses=[], password=secrets.token_hex(12))

    client = Client()
    client.force_login(get_user_model().objects.get(username="bench"))

    def page():
        started = time.perf_counter()
        html = client.get("/monitor/").content.decode()
        return html, (time.perf_counter() - started) * 1000

    def versions(html: str) -> str:
        return ",".join(f"{i}:{v}" for i, v in re.findall(r'<[^>]*\bid="([^"]+)"[^>]*\bdata-v="([^"]+)"', html))

    html, _ = page()
    page_times = [page()[1] for _ in range(5)]
    html, _ = page()
    since = re.search(r'name="since" value="([^"]+)"', html).group(1)
    have = versions(html)
    assert have.count("pe-") == args.sessions, "every session should be on the page"

    def poll(have_now: str, expect: int) -> float:
        started = time.perf_counter()
        response = client.post("/monitor/poll/", {"have": have_now, "since": since}, HTTP_HX_REQUEST="true")
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == expect, (response.status_code, re.findall(r"id=\"([^\"]+)\"[^>]*hx-swap-oob", response.content.decode())[:5])
        return elapsed

    results = {}
    poll(have, 204)
    results["nothing changed (204)"] = [poll(have, 204) for _ in range(args.rounds)]
    # 10 changed rows: pretend the browser holds old versions of 10 rows
    stale = have
    for key in re.findall(r"(pe-\d+):", have)[:: args.sessions // 10][:10]:
        stale = re.sub(rf"{key}:[0-9a-f]+", f"{key}:000000000000", stale)
    results["10 rows changed"] = [poll(stale, 200) for _ in range(args.rounds)]
    # one session the browser does not have yet: one row is inserted before its neighbour
    missing = ",".join(item for item in have.split(",") if not item.startswith(f"pe-{sessions[5].id}:"))
    results["a session appeared (1 row inserted)"] = [poll(missing, 200) for _ in range(args.rounds)]
    # one session the browser shows has left: one row is deleted
    extra = have.replace("pe-", "pe-999999999:0,pe-", 1)
    results["a session left (1 row deleted)"] = [poll(extra, 200) for _ in range(args.rounds)]

    def q(values, p):
        values = sorted(values)
        return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]

    print(f"sessions={args.sessions} rounds={args.rounds} db={connection.vendor}")
    print(f"{'case':40} {'p50 ms':>8} {'p95 ms':>8}")
    for name, values in results.items():
        print(f"{name:40} {statistics.median(values):8.1f} {q(values, 95):8.1f}")
    print(f"{'full page GET /monitor/ (5 rounds)':40} {statistics.median(page_times):8.1f} {max(page_times):8.1f}")


if __name__ == "__main__":
    main()
