"""Load: 50 concurrent signed-in users against the production configuration while a full sync runs.

Starts the stack of tests/ops/stack.py (gunicorn with DEBUG off, a Celery worker and beat, PostgreSQL, Redis, the
sandbox with --appointments N), waits for the first full pass to fill the cache, signs in --users sessions (each its
own account, coordinators), then for --duration seconds each user loops over a weighted mix of requests with a
think time between them — appointments list, a filtered list (status / course / exam / name / date), an htmx
filter fragment, an appointment's detail page, a filtered CSV export, the live monitor and its poll — while a full
appointments pass runs (a new one is requested as soon as the previous finishes). The load comes from this process
(threads, one requests session per user) on loopback; the server is the separate gunicorn processes. Bounded: at most
--users threads for --duration seconds, loopback only.

Reports per request kind: count, errors (any answer other than the expected status, or a connection error; must be
none), p50, p95, max; and how many full passes ran during the load.

    .venv/bin/python benchmarks/bench_load.py                          # 50 users, 120 s, 20,000 appointments
    .venv/bin/python benchmarks/bench_load.py --users 10 --duration 20 --appointments 2000   # a quick look

No third-party load tool is needed (locust would be `pip install locust`; this generator keeps the benchmark free of
dependencies). DATABASE_URL / REDIS_URL are used when set (a throw-away database / a separate Redis db), otherwise a
private PostgreSQL cluster and a private redis-server are started and removed.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.ops.stack import PASSWORD, Stack, wait_until  # noqa: E402

STATUSES = ["Scheduled", "Needs Proctor", "Closed", "Cancelled", "In Progress"]
CREATE_USERS = """
from proctordash.accounts.services import staff_add
for i in range({n}):
    staff_add(username=f"load{{i:02d}}", role="coordinator", courses=[], password={password!r})
"""


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)

    def record(self, kind: str, seconds: float, error: str | None) -> None:
        with self.lock:
            self.times[kind].append(seconds)
            if error:
                self.errors[kind].append(error)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def user_loop(client, picks: dict, recorder: Recorder, stop_at: float, think: float, seed: int) -> None:
    rnd = random.Random(seed)
    token = client.csrf_token("/monitor/")
    requests_mix = [
        ("list", 25, lambda: ("GET", f"/appointments/?page={rnd.randint(1, 20)}", {}, None)),
        ("filter", 20, lambda: ("GET", "/appointments/?" + rnd.choice([
            f"status={rnd.choice(STATUSES)}",
            f"courseSid={rnd.choice(picks['courses'])}",
            f"examSid={rnd.choice(picks['exams'])}&sort=-appointmentDate",
            f"learnerLastName={rnd.choice('aeiou')}{rnd.choice('nrstl')}",
            f"q={rnd.choice(picks['words'])}",
            "appointmentAfter=2026-01-01&status=Scheduled&per_page=100",
        ]), {}, None)),
        ("filter_fragment", 10, lambda: ("GET", f"/appointments/?status={rnd.choice(STATUSES)}",
                                         {"HX-Request": "true"}, None)),
        ("detail", 20, lambda: ("GET", f"/appointments/{rnd.choice(picks['sids'])}/", {}, None)),
        ("export", 5, lambda: ("GET", f"/appointments/export.csv?courseSid={rnd.choice(picks['courses'])}", {},
                               None)),
        ("monitor", 10, lambda: ("GET", "/monitor/", {}, None)),
        ("monitor_poll", 10, lambda: ("POST", "/monitor/poll/", {"HX-Request": "true"},
                                      {"have": "", "csrfmiddlewaretoken": token})),
    ]
    kinds = [m for m in requests_mix for _ in range(m[1])]
    while time.monotonic() < stop_at:
        kind, _, build = rnd.choice(kinds)
        method, path, headers, data = build()
        started = time.monotonic()
        error = None
        try:
            answer = client.request(method, path, headers=headers, data=data, timeout=60)
            if answer.status_code not in (200, 204):
                error = f"{answer.status_code} {path}"
            else:
                answer.content  # noqa: B018 - the whole body, as a browser would read it
        except Exception as exc:  # noqa: BLE001 - every failure counts as an error
            error = f"{type(exc).__name__} {path}"
        recorder.record(kind, time.monotonic() - started, error)
        if think:
            time.sleep(rnd.uniform(think * 0.5, think * 1.5))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=float, default=120.0)
    parser.add_argument("--appointments", type=int, default=20000)
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--think", type=float, default=1.0, help="mean think time between a user's requests (s)")
    args = parser.parse_args()
    if not (1 <= args.users <= 200 and 1 <= args.duration <= 600):
        parser.error("--users 1..200, --duration 1..600")

    stack = Stack(appointments=args.appointments, web_workers=args.web_workers, worker_concurrency=2,
                  env={"SYNC_APPOINTMENTS_INCREMENTAL_INTERVAL": "120", "SYNC_PROCTOREXAM_INTERVAL": "30"})
    try:
        t0 = time.monotonic()
        stack.start()
        print(f"stack up in {time.monotonic() - t0:.1f} s ({stack.db.__class__.__name__}, "
              f"{stack.redis.__class__.__name__}, gunicorn --workers {args.web_workers})", flush=True)
        stack.manage("shell", "-c", CREATE_USERS.format(n=args.users, password=PASSWORD))
        t0 = time.monotonic()
        wait_until(lambda: stack.successful_runs("appointments_full"), timeout=900, interval=1,
                   what="the first full pass")
        print(f"first full pass of {args.appointments} appointments done {time.monotonic() - t0:.1f} s after "
              "the users were created", flush=True)
        picks = {
            "sids": [r[0] for r in stack.sql("SELECT sid FROM appointments_appointment ORDER BY random() LIMIT 500")],
            "courses": [r[0] for r in stack.sql("SELECT DISTINCT course_sid FROM appointments_appointment LIMIT 200")],
            "exams": [r[0] for r in stack.sql("SELECT DISTINCT exam_sid FROM appointments_appointment LIMIT 200")],
            "words": ["smith", "exam", "final", "an", "ma", "edu", "quiz", "mid"],
        }

        t0 = time.monotonic()
        clients = [stack.client(f"load{i:02d}") for i in range(args.users)]  # every user signed in first
        print(f"{args.users} users signed in ({time.monotonic() - t0:.1f} s)", flush=True)
        recorder = Recorder()
        stop_at = time.monotonic() + args.duration
        admin = stack.client("load00")
        token = admin.csrf_token("/health/")

        def request_full_pass():
            admin.post("/health/refresh/", data={"kind": "appointments_full", "csrfmiddlewaretoken": token})

        before = stack.successful_runs("appointments_full")
        request_full_pass()
        threads = [threading.Thread(target=user_loop, daemon=True,
                                    args=(clients[i], picks, recorder, stop_at, args.think, i))
                   for i in range(args.users)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        running_checks = 0
        while time.monotonic() < stop_at:
            time.sleep(2)
            running = stack.sql("SELECT count(*) FROM monitoring_syncrun WHERE kind = 'appointments_full' "
                                "AND outcome IN ('queued', 'running')")[0][0]
            running_checks += 1
            if not running:
                request_full_pass()  # keep a full pass running for the whole load
        for thread in threads:
            thread.join(90)
        elapsed = time.monotonic() - started
        passes = stack.successful_runs("appointments_full") - before
        durations = stack.sql("SELECT extract(epoch FROM finished_at - started_at) FROM monitoring_syncrun "
                              "WHERE kind = 'appointments_full' AND outcome = 'success' ORDER BY id DESC LIMIT %s",
                              max(passes, 1))

        total = sum(len(v) for v in recorder.times.values())
        errors = sum(len(v) for v in recorder.errors.values())
        print(f"\n{args.users} users, {elapsed:.0f} s, think {args.think:g} s: {total} requests "
              f"({total / elapsed:.1f}/s), {errors} errors; {passes} full passes completed during the load "
              f"(each {', '.join(f'{float(d[0]):.0f} s' for d in durations)})")
        print(f"| request | count | errors | p50 ms | p95 ms | max ms |\n| --- | ---: | ---: | ---: | ---: | ---: |")
        for kind in ("list", "filter", "filter_fragment", "detail", "export", "monitor", "monitor_poll"):
            values = recorder.times.get(kind, [])
            if not values:
                continue
            print(f"| {kind} | {len(values)} | {len(recorder.errors.get(kind, []))} | "
                  f"{statistics.median(values) * 1000:.0f} | {percentile(values, 0.95) * 1000:.0f} | "
                  f"{max(values) * 1000:.0f} |")
        for kind, messages in recorder.errors.items():
            print(f"errors in {kind}: {sorted(set(messages))[:5]}")
        server_errors = stack.server_errors(("web",))
        print(f"server errors in gunicorn's log: {len(server_errors)}")
        for line in server_errors[:10]:
            print("  " + line)
        return 1 if errors or server_errors else 0
    finally:
        survivors = stack.stop(check=False)
        if survivors:
            print(f"left behind: {survivors}")


if __name__ == "__main__":
    raise SystemExit(main())
