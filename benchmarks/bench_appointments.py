"""The appointment list over 100,000 cached appointments, side by side with the Django admin changelist of the same
model and filter, under load from a second process (wrk), and what a user feels in Chromium (Playwright).

Usage: .venv/bin/python benchmarks/bench_appointments.py [--appointments 100000] [--duration 10] [--rounds 3]
                                                          [--changes 20] [--skip-browser] [--workers 3]
                                                          [--postgres postgres://postgres@127.0.0.1:5432/postgres]
                                                          [--var DIR] [--keep] [--profile] [--think-ms 0,1000]

- `--postgres URL`: the cache lives in a throw-away database `bench_appointments` created on that server (dropped
  at the end unless `--keep`); without it, SQLite in the temporary directory.
- `--var DIR` + `--keep`: keep the populated store (SQLite file or PostgreSQL database) and reuse it on the next run
  with the same `--var DIR` (skips the ~minute of populating 100,000 rows while iterating).
- `--think-ms 0,1000`: one load run per value; 0 = saturating (every connection sends its next request as soon as
  the answer arrives: p50 is then mostly queueing, ≈ connections / throughput); 1000 = paced, each connection waits
  1 s between requests (≈ 8 requests/s offered, below both sides' capacity: p50 ≈ service time under that load).
- `--profile`: before serving (with `--rounds 0`: and nothing else), time the list request in-process (Django test Client): every SQL statement with its
  time, and the top functions by cumulative time (cProfile), then go on with the benchmark.

- Builds a throw-away SQLite cache (migrations applied, DEBUG off) with `--appointments` rows over 40 courses and 200
  exams, dates spread over a year, and a coordinator who is also a superuser (so the admin opens too).
- Serves it with gunicorn (3 sync workers, like the stack's floor in ../shared/STACK.md) on a loopback port, with an
  embedded Redis for the cache backend.
- wrk (2 threads, 8 connections, `--duration` s, `--rounds` rounds, median reported) against:
    ours:  /appointments/?status=Scheduled&type=proctoru&reviewStatus=pending&sort=-appointmentDate
    admin: /admin/appointments/appointment/?status__exact=Scheduled&session_type__exact=proctoru
           &review_status__exact=pending&o=-2   (the same three filters and sort)
  both rounds interleaved in one run; p50/p95 come from wrk's latency histogram (a Lua `done` hook).
- Browser: Chromium opens the list, then `--changes` times picks another status in the Status select; each time is
  measured inside the page from the change event to the frame after htmx settled the new rows; median reported.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PASSWORD = "bench-password-" + secrets.token_hex(8)

OURS = "/appointments/?status=Scheduled&type=proctoru&reviewStatus=pending&sort=-appointmentDate"
ADMIN = ("/admin/appointments/appointment/?status__exact=Scheduled&session_type__exact=proctoru"
         "&review_status__exact=pending&o=-2")
LUA = """
done = function(summary, latency, requests)
  io.write(string.format("JSON {\\"p50\\": %f, \\"p95\\": %f, \\"requests\\": %d, \\"errors\\": %d, \\"non2xx\\": %d}\\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def populate(n: int) -> None:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from proctordash.accounts.services import staff_add
    from proctordash.appointments.models import Appointment, Course, CourseOffering, Exam
    from proctordash.core import vocabulary
    from proctordash.sync.models import UpstreamState

    rnd = random.Random(42)
    now = timezone.now()
    hexsid = lambda prefix, i: prefix + f"{i:032x}"  # noqa: E731
    courses = [Course(sid=hexsid("CU", i), title=f"Course {i:02d} {rnd.choice(['Biology', 'Chemistry', 'History', 'Statistics'])}",
                      code=f"C{i:03d}", offering_sid=hexsid("CO", i), offering_title=f"Fall {i}") for i in range(40)]
    Course.objects.bulk_create(courses)
    CourseOffering.objects.bulk_create([CourseOffering(sid=c.offering_sid, course_sid=c.sid, title=c.offering_title)
                                        for c in courses])
    exams = [Exam(sid=hexsid("EX", i), course_sid=courses[i % 40].sid, title=f"Exam {i:03d}", status="active")
             for i in range(200)]
    Exam.objects.bulk_create(exams)
    firsts = ["Ada", "Grace", "Alan", "Zoë", "Linus", "Margaret", "Ken", "Barbara", "Edsger", "Frances", "Tim", "Radia"]
    lasts = ["Lovelace", "Hopper", "Turing", "Ødegård", "Torvalds", "Hamilton", "Thompson", "Liskov", "Dijkstra"]
    batch = []
    for i in range(n):
        exam = exams[rnd.randrange(200)]
        course = courses[int(exam.sid[2:], 16) % 40]
        first, last = rnd.choice(firsts), rnd.choice(lasts) + str(rnd.randrange(1000))
        email = f"{first}.{last}@example.edu".lower()
        review = rnd.choice(vocabulary.REVIEW_STATUSES)
        date = now + timedelta(minutes=rnd.randrange(-260 * 24 * 60, 100 * 24 * 60)) if rnd.random() > 0.02 else None
        raw = {"sid": hexsid("AP", i), "status": "x", "exam": {"sid": exam.sid, "title": exam.title},
               "enrollment": {"firstName": first, "lastName": last, "email": email},
               "course": {"sid": course.sid, "title": course.title}, "examConfiguration": {"duration": 90}}
        batch.append(Appointment(
            sid=hexsid("AP", i), exam_sid=exam.sid, enrollment_sid=hexsid("EN", i), course_sid=course.sid,
            course_offering_sid=course.offering_sid, status=rnd.choice(vocabulary.APPOINTMENT_STATUSES),
            session_type=rnd.choice(vocabulary.APPOINTMENT_TYPES), review_status=review, exam_status="active",
            appointment_date=date, review_by_date=(date + timedelta(days=3)) if date and review == "pending" else None,
            session_report_count=rnd.randrange(6), learner_sid=hexsid("US", i), learner_first_name=first,
            learner_last_name=last, learner_email=email, course_title=course.title, exam_title=exam.title,
            learner_first_name_search=first.lower(), learner_last_name_search=last.lower(),
            learner_email_search=email, learner_sid_search=hexsid("US", i), course_title_search=course.title.lower(),
            exam_title_search=exam.title.lower(),
            search_text="\n".join([f"{first} {last}", email, course.title, exam.title]).lower(),
            raw=raw, content_hash=secrets.token_hex(32), last_seen_at=now))
        if len(batch) == 5000:
            Appointment.objects.bulk_create(batch)
            batch = []
    Appointment.objects.bulk_create(batch)
    UpstreamState.objects.create(upstream="smarterproctoring", last_success_at=now)
    staff_add(username="bench", role="coordinator", courses=[], password=PASSWORD)
    get_user_model().objects.filter(username="bench").update(is_staff=True, is_superuser=True)


def login(base: str) -> str:
    """Sign in through the real login form; returns the session cookie's value. (DEBUG is off, so the cookies are
    marked Secure; over loopback HTTP they are passed by hand.)"""
    page = requests.get(f"{base}/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = requests.post(f"{base}/login/", data={"username": "bench", "password": PASSWORD,
                                                      "csrfmiddlewaretoken": token},
                             headers={"Referer": f"{base}/login/", "Cookie": f"csrftoken={page.cookies['csrftoken']}"},
                             allow_redirects=False, timeout=30)
    assert response.status_code == 302, response.status_code
    return response.cookies["sessionid"]


def profile_list(path: str) -> None:
    """One list request in-process: the SQL it runs (with times) and where Python spends the rest."""
    import cProfile
    import pstats

    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.contrib.auth import get_user_model

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(get_user_model().objects.get(username="bench"))
    for _ in range(3):  # warm caches and connections
        assert client.get(path).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        client.get(path)
        total = (time.perf_counter() - started) * 1000
    print(f"profile: {path}: {total:.1f} ms in-process, {len(queries)} queries, "
          f"SQL {sum(float(q['time']) for q in queries.captured_queries) * 1000:.1f} ms", flush=True)
    for q in queries.captured_queries:
        print(f"  {float(q['time']) * 1000:7.2f} ms  {q['sql'][:220]}", flush=True)
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
    print(f"profile: median of 20 in-process {statistics.median(timings):.1f} ms (min {min(timings):.1f})", flush=True)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(10):
        client.get(path)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
    reset_queries()


def wrk(url: str, cookie: str, duration: int, script: str) -> dict:
    out = subprocess.run(["wrk", "-t2", "-c8", f"-d{duration}s", "--timeout", "10s", "-s", script,
                          "-H", f"Cookie: sessionid={cookie}", url], capture_output=True, text=True, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("JSON "))
    result = json.loads(line[5:])
    result["rps"] = result["requests"] / duration
    return result


def browser_latency(base: str, cookie: str, changes: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    flags = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=flags)
        context = browser.new_context()
        context.add_cookies([{"name": "sessionid", "value": cookie, "url": base}])
        page = context.new_page()
        page.goto(f"{base}/appointments/?type=proctoru&reviewStatus=pending&sort=-appointmentDate")
        page.wait_for_selector("#results tbody tr")
        statuses = ["Scheduled", "Closed", "Needs Proctor", "Cancelled", "In Progress"]
        times = []
        for i in range(changes):
            ms = page.evaluate("""async (value) => {
                const select = document.getElementById('id_status');
                const settled = new Promise(resolve => document.body.addEventListener('htmx:afterSettle', resolve, {once: true}));
                const t0 = performance.now();
                select.value = value;
                select.dispatchEvent(new Event('change', {bubbles: true}));
                await settled;
                await new Promise(resolve => requestAnimationFrame(() => setTimeout(resolve, 0)));
                return performance.now() - t0;
            }""", statuses[i % len(statuses)])
            assert page.locator("#results tbody tr").count() > 0
            times.append(ms)
        browser.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--appointments", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--skip-browser", action="store_true")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn sync workers (serve ours and the admin alike)")
    parser.add_argument("--postgres", help="server URL; the cache goes into a throw-away database bench_appointments")
    parser.add_argument("--var", help="working directory (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the populated store for a later run with --var")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--think-ms", type=lambda v: [int(x) for x in v.split(",")], default=[0],
                        help="comma-separated think times per connection, one load run each (0 = saturating)")
    args = parser.parse_args()

    var = Path(args.var) if args.var else Path(tempfile.mkdtemp(prefix="bench-appointments-"))
    var.mkdir(parents=True, exist_ok=True)
    database_url = None
    if args.postgres:
        import psycopg

        server_url = args.postgres
        database_url = server_url.rsplit("/", 1)[0] + "/bench_appointments"
        with psycopg.connect(server_url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = 'bench_appointments'").fetchone()
            if exists and not (args.var and (var / "populated").exists()):
                conn.execute("DROP DATABASE bench_appointments")
                exists = None
            if not exists:
                conn.execute("CREATE DATABASE bench_appointments")
    from proctordash.core import embedded_redis

    redis_server, redis_socket = embedded_redis.start(var / "redis")
    env = {
        "DJANGO_DEBUG": "false", "PROCTORDASH_VAR_DIR": str(var), "DJANGO_SETTINGS_MODULE": "proctordash.settings",
        "DJANGO_SECRET_KEY": secrets.token_hex(32), "SMARTERPROCTORING_TOKEN": "bench-unused",
        "SMARTERPROCTORING_INSTALL_SID": "AI" + "0" * 32, "PROCTOREXAM_TOKEN": "bench-unused",
        "PROCTOREXAM_SECRET_KEY": "bench-unused", "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "PROCTOREXAM_BASE_URL": "http://127.0.0.1:9", "SMARTERPROCTORING_BASE_URL": "http://127.0.0.1:9",
        "DJANGO_SECURE_SSL_REDIRECT": "false", "REDIS_URL": f"unix://{redis_socket}", "LOG_LEVEL": "WARNING",
        "DASHBOARD_TIME_ZONE": "America/Chicago",
    }
    if database_url:
        env["DATABASE_URL"] = database_url
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    from django.db import connection

    started = time.monotonic()
    call_command("migrate", verbosity=0)
    call_command("collectstatic", verbosity=0, interactive=False)
    if (var / "populated").exists():
        print(f"reusing the populated store in {var}", flush=True)
        from django.contrib.auth import get_user_model

        bench = get_user_model().objects.get(username="bench")
        bench.set_password(PASSWORD)  # this run's password
        bench.save()
    else:
        populate(args.appointments)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE appointments_appointment")
        (var / "populated").write_text(str(args.appointments))
        print(f"populated {args.appointments} appointments in {time.monotonic() - started:.0f} s ({var})", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"database {connection.vendor}; load average {' '.join('%.2f' % x for x in os.getloadavg())}", flush=True)
    if args.profile:
        profile_list(OURS)
        profile_list(ADMIN)
    connection.close()
    if args.rounds == 0:  # --rounds 0: profile (or populate) only
        embedded_redis.stop(redis_server, var / "redis")
        return

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "proctordash.wsgi", "-w", str(args.workers), "-b", f"127.0.0.1:{port}",
                               "--access-logfile", "/dev/null"], cwd=ROOT, env={**os.environ, **env},
                              stdout=open(var / "gunicorn.log", "wb"), stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            try:
                requests.get(f"{base}/login/", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.2)
        cookie = login(base)
        for path in (OURS, ADMIN):  # both answer 200 with rows before anything is timed
            response = requests.get(base + path, cookies={"sessionid": cookie}, timeout=30)
            assert response.status_code == 200 and "<html" in response.text, (path, response.status_code)
        for think in args.think_ms:
            script = var / f"report-{think}.lua"
            # think > 0: each connection waits that long between its requests (a user reading the page), so the
            # offered load is about 8 / think requests per second instead of as many as the server can answer
            script.write_text(LUA + (f"\nfunction delay() return {think} end\n" if think else ""))
            results: dict[str, list[dict]] = {"ours": [], "admin": []}
            for _ in range(args.rounds):
                for name, path in (("ours", OURS), ("admin", ADMIN)):
                    results[name].append(wrk(base + path, cookie, args.duration, str(script)))
            summary = {}
            print(f"load: wrk 2 threads x 8 connections, think time {think} ms "
                  f"({'saturating' if not think else 'paced'}), {args.rounds} x {args.duration} s, "
                  f"load average {' '.join('%.2f' % x for x in os.getloadavg())}", flush=True)
            for name, runs in results.items():
                summary[name] = {k: statistics.median(r[k] for r in runs) for k in ("p50", "p95", "rps")}
                summary[name]["errors"] = sum(r["errors"] + r["non2xx"] for r in runs)
                print(f"  {name:5s}  p50 {summary[name]['p50']:7.1f} ms  p95 {summary[name]['p95']:7.1f} ms  "
                      f"{summary[name]['rps']:7.1f} req/s  errors {summary[name]['errors']}  "
                      f"(per round p50: {', '.join('%.1f' % r['p50'] for r in runs)})", flush=True)
            print(f"  ratio  admin p50 / ours p50 = {summary['admin']['p50'] / summary['ours']['p50']:.1f}x", flush=True)
        if not args.skip_browser:
            times = browser_latency(base, cookie, args.changes)
            print(f"browser  filter change → new rows on screen: median {statistics.median(times):.0f} ms, "
                  f"max {max(times):.0f} ms over {len(times)} changes ({', '.join(f'{t:.0f}' for t in times)})", flush=True)
        print(f"load average at the end {' '.join('%.2f' % x for x in os.getloadavg())}", flush=True)
    finally:
        server.terminate()
        server.wait(10)
        embedded_redis.stop(redis_server, var / "redis")
        if args.postgres and not args.keep:
            import psycopg

            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute("DROP DATABASE IF EXISTS bench_appointments WITH (FORCE)")


if __name__ == "__main__":
    main()
