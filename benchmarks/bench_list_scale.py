#!/usr/bin/env python
"""The appointment list at 100,000 and at 1,000,000 cached appointments on PostgreSQL (issue 18 item 4), with the
Django admin changelist and a minimal Django page measured beside it in the same run.

Usage: .venv/bin/python benchmarks/bench_list_scale.py --postgres postgres://postgres@127.0.0.1:5432/postgres
       [--sizes 100000,1000000] [--requests 30] [--warmup 3] [--keep] [--explain] [--skip-export] [--parallel]
       [--json FILE]

- One throw-away database per size on that server (bench_scale_100k, bench_scale_1m, …), migrated, filled with COPY
  (the table's secondary indexes dropped first and rebuilt after: ~2 min for 1,000,000 rows), then the per-day ×
  status counts rebuilt (`manage.py appointment_counts --rebuild`: rows written here bypass the sync) and ANALYZE.
  Dropped at the end unless `--keep`; a kept database is reused by the next run (a marker table records its size).
- Data (the shape of bench_appointments_browser.py): 40 courses, 120 exams (six titles repeated across courses; one
  exam in ten "draft", one in ten "deleted"), dates from 260 days ago to 100 days ahead (2 % without a date), twelve
  first names, nine last names with a number 0–999, five statuses, nine types, three review statuses. The same
  courses, exams and days at every size: 1,000,000 rows are ten times as many per day and per filter value.
- In-process, Django's test Client, DEBUG off, an embedded Redis, one signed-in coordinator who is also a superuser
  (so the admin opens). The database connection is kept for the run (CONN_MAX_AGE None; health checks as
  configured). Per request: wall time (perf_counter), this process's CPU (process_time) and the PostgreSQL backend's
  CPU (/proc/<backend pid>/schedstat, nanoseconds; same machine). `--requests` rounds after `--warmup` unmeasured
  ones; each round visits every size and, per size, every view (rotated start). Medians.
- Parallel query is off for the benchmark's connection (max_parallel_workers_per_gather = 0) unless `--parallel`:
  a parallel worker's CPU is not the backend's and would go uncounted (the admin's DISTINCTs go parallel at 1M).
- Views: ours (the default view, every date, each single filter the list offers, page 2 and the last page, a
  second sort), the admin changelist filtered on status, and a minimal page: 50 appointments (the list's columns)
  read through the (status, appointment_date) index and rendered by a ten-line template, behind the same middleware
  and sign-in (a URLconf made here: proctordash.urls plus /bench/minimal/).
- Ratios: each view 1M ÷ 100k (target p50 ≤ 1.3×), ours ÷ minimal in CPU (≤ 2.5×), admin ÷ ours in CPU (≥ 5×).
- Export: /appointments/export.csv?when=all streamed at each size in a fresh child process (so that nothing the
  parent allocated hides growth); its peak RSS (sampled at every streamed chunk, and ru_maxrss) minus the RSS after
  a warm-up export of one row.
- `--explain`: EXPLAIN (ANALYZE, BUFFERS) of every appointment query of the slowest of our views at the largest size.
- The floor of the rare text filters: at each size, EXPLAIN ANALYZE of a bare count through appt_search_trgm for each
  rare value (median of 7 after a warm-up): the index scan alone, and the scan with the visit to every candidate.
  Both grow with the table whatever the list does around them, so they bound the 1M ÷ 100k ratio from below.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import types
from datetime import date, datetime, timedelta, timezone as dt_timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = sys.executable

EXAM_TITLES = ["Midterm", "Final exam", "Quiz 1", "Quiz 2", "Lab practical", "Oral exam"]
SUBJECTS = ["Biology", "Chemistry", "History", "Statistics", "Physics", "Economics", "Law", "Nursing"]
FIRSTS = ["Ada", "Grace", "Alan", "Zoë", "Linus", "Margaret", "Ken", "Barbara", "Edsger", "Frances", "Tim", "Radia"]
LASTS = ["Lovelace", "Hopper", "Turing", "Ødegård", "Torvalds", "Hamilton", "Thompson", "Liskov", "Dijkstra"]
N_COURSES, N_EXAMS = 40, 120
TABLE = "appointments_appointment"


def hexsid(prefix: str, i: int) -> str:
    return prefix + f"{i:032x}"


def label(n: int) -> str:
    return f"{n // 1_000_000}m" if n % 1_000_000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)


def db_name(n: int) -> str:
    return f"bench_scale_{label(n)}"


def loadavg() -> str:
    return " ".join("%.2f" % x for x in os.getloadavg())


# --- environment ---------------------------------------------------------------------------------------------------
def django_env(var: Path, server_url: str, database: str, redis_socket: Path) -> dict:
    return {
        "DJANGO_DEBUG": "false", "PROCTORDASH_VAR_DIR": str(var), "DJANGO_SETTINGS_MODULE": "proctordash.settings",
        "DJANGO_SECRET_KEY": secrets.token_hex(32), "SMARTERPROCTORING_TOKEN": "bench-unused",
        "SMARTERPROCTORING_INSTALL_SID": "AI" + "0" * 32, "PROCTOREXAM_TOKEN": "bench-unused",
        "PROCTOREXAM_SECRET_KEY": "bench-unused", "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "PROCTOREXAM_BASE_URL": "http://127.0.0.1:9", "SMARTERPROCTORING_BASE_URL": "http://127.0.0.1:9",
        "DJANGO_SECURE_SSL_REDIRECT": "false", "REDIS_URL": f"unix://{redis_socket}", "LOG_LEVEL": "WARNING",
        "DASHBOARD_TIME_ZONE": "America/Chicago",
        "DATABASE_URL": server_url.rsplit("/", 1)[0] + "/" + database,
    }


def django_setup(parallel: bool) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.db.backends.signals import connection_created

    settings.DATABASES["default"]["CONN_MAX_AGE"] = None  # one backend for the run: its CPU is read by pid
    settings.ROOT_URLCONF = _urlconf()
    if not parallel:
        def no_parallel(sender, connection, **kwargs):
            with connection.cursor() as cursor:
                cursor.execute("SET max_parallel_workers_per_gather = 0")
        connection_created.connect(no_parallel, weak=False)


def use_database(name: str) -> int:
    """Point Django's connection at another database; returns the new backend's pid."""
    from django.db import connection

    connection.close()
    connection.settings_dict["NAME"] = name
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def backend_cpu_ms(pid: int) -> float:
    """CPU time of a process in ms (/proc/<pid>/schedstat: nanoseconds on CPU, user + system)."""
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0]) / 1e6


# --- the minimal page ------------------------------------------------------------------------------------------------
MINIMAL_TEMPLATE = """<!doctype html><html lang="en"><head><title>Appointments</title></head><body><table>
<tr><th>Appointment</th><th>Learner</th><th>E-mail</th><th>Course</th><th>Exam</th><th>Type</th><th>Status</th><th>Review</th><th>Review by</th><th>Reports</th></tr>
{% for a in rows %}<tr><td>{{ a.appointment_date|date:"Y-m-d H:i" }}</td><td>{{ a.learner_first_name }} {{ a.learner_last_name }}</td>
<td>{{ a.learner_email }}</td><td>{{ a.course_title }}</td><td>{{ a.exam_title }}</td><td>{{ a.session_type }}</td>
<td>{{ a.status }}</td><td>{{ a.review_status }}</td><td>{{ a.review_by_date|date:"Y-m-d" }}</td><td>{{ a.session_report_count }}</td></tr>
{% endfor %}</table></body></html>"""
MINIMAL_COLUMNS = ["sid", "appointment_date", "learner_first_name", "learner_last_name", "learner_email",
                   "course_title", "exam_title", "session_type", "status", "review_status", "review_by_date",
                   "session_report_count"]


def _urlconf() -> str:
    """A URLconf module: the project's URLs plus /bench/minimal/ (a plain view, a plain template)."""
    from django.http import HttpResponse
    from django.template import engines
    from django.urls import include, path

    from proctordash.appointments.models import Appointment

    template = engines["django"].from_string(MINIMAL_TEMPLATE)

    def minimal(request):
        rows = (Appointment.objects.filter(status="Scheduled").order_by("appointment_date")
                .only(*MINIMAL_COLUMNS)[:50])
        return HttpResponse(template.render({"rows": rows}, request))

    module = types.ModuleType("bench_list_scale_urls")
    module.urlpatterns = [path("bench/minimal/", minimal), path("", include("proctordash.urls"))]
    import proctordash.urls as project_urls

    for name in ("handler400", "handler403", "handler404", "handler500"):
        if hasattr(project_urls, name):
            setattr(module, name, getattr(project_urls, name))
    sys.modules[module.__name__] = module
    return module.__name__


# --- populating ------------------------------------------------------------------------------------------------------
def database_ready(server_url: str, name: str, n: int, keep: bool) -> bool:
    """Create the database if needed; True when a kept one already holds n appointments."""
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and keep:
            target = server_url.rsplit("/", 1)[0] + "/" + name
            with psycopg.connect(target, autocommit=True) as db:
                marker = db.execute("SELECT to_regclass('bench_populated')").fetchone()[0]
                if marker and db.execute("SELECT n FROM bench_populated").fetchone()[0] == n:
                    return True
        if exists:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return False


def populate(n: int) -> None:
    """n appointments by COPY (secondary indexes dropped before and rebuilt after), the pickers' tables, the
    per-day counts, the signed-in user; then VACUUM ANALYZE and the marker."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from proctordash.accounts.services import staff_add
    from proctordash.appointments.models import Appointment, Course, CourseOffering, Exam
    from proctordash.core import vocabulary
    from proctordash.sync.models import UpstreamState

    started = time.monotonic()
    rnd = random.Random(42)
    now = timezone.now().replace(microsecond=0)
    courses = [Course(sid=hexsid("CU", i), title=f"{SUBJECTS[i % len(SUBJECTS)]} {101 + (i // len(SUBJECTS)) * 100}",
                      code=f"C{i:03d}", offering_sid=hexsid("CO", i), offering_title=f"Fall {2026 - i % 2}")
               for i in range(N_COURSES)]
    Course.objects.bulk_create(courses)
    CourseOffering.objects.bulk_create([CourseOffering(sid=c.offering_sid, course_sid=c.sid, title=c.offering_title)
                                        for c in courses])
    exams = [Exam(sid=hexsid("EX", i), course_sid=courses[i % N_COURSES].sid,
                  title=EXAM_TITLES[(i // N_COURSES) % len(EXAM_TITLES)],
                  status="draft" if i % 10 == 0 else "deleted" if i % 10 == 1 else "active") for i in range(N_EXAMS)]
    Exam.objects.bulk_create(exams)

    fields = [f for f in Appointment._meta.concrete_fields if not f.primary_key]
    columns = [f.column for f in fields]
    iso = lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.000Z")  # noqa: E731
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    def rows():
        for i in range(n):
            exam = exams[rnd.randrange(N_EXAMS)]
            course = courses[int(exam.sid[2:], 16) % N_COURSES]
            first, last = rnd.choice(FIRSTS), rnd.choice(LASTS) + str(rnd.randrange(1000))
            email = f"{first}.{last}.{rnd.randrange(10**6)}@students.example.edu".lower()
            review = rnd.choice(vocabulary.REVIEW_STATUSES)
            status = rnd.choice(vocabulary.APPOINTMENT_STATUSES)
            session_type = rnd.choice(vocabulary.APPOINTMENT_TYPES)
            when = now + timedelta(minutes=rnd.randrange(-260 * 24 * 60, 100 * 24 * 60)) if rnd.random() > 0.02 else None
            review_by = (when + timedelta(days=3)) if when and review == "pending" else None
            opened = (when or now) - timedelta(days=20)
            sid, learner = hexsid("AP", i), hexsid("US", i)
            raw = {"sid": sid, "status": status, "sessionType": session_type,
                   "appointmentDate": iso(when) if when else None,
                   "exam": {"sid": exam.sid, "title": exam.title, "type": "Online", "status": exam.status,
                            "instructorName": "Dr. Rosalind Franklin"},
                   "enrollment": {"firstName": first, "lastName": last, "email": email, "role": "student",
                                  "userSid": learner},
                   "course": {"sid": course.sid, "title": course.title, "code": course.code,
                              "offering": {"sid": course.offering_sid, "title": course.offering_title}},
                   "examConfiguration": {"sid": hexsid("EC", i % N_EXAMS), "duration": 90, "attempts": 1,
                                         "examOpenDate": iso(opened),
                                         "examCloseDate": iso(opened + timedelta(days=40)),
                                         "permittedCalculator": True, "permittedNotes": False,
                                         "studentNotes": "Show your student card to the camera before you start."}}
            values = dict(
                sid=sid, exam_sid=exam.sid, enrollment_sid=hexsid("EN", i), course_sid=course.sid,
                course_offering_sid=course.offering_sid, configuration_sid=hexsid("EC", i % N_EXAMS), status=status,
                session_type=session_type, review_status=review, exam_status=exam.status, appointment_date=when,
                review_by_date=review_by, review_completed_date=None, recording_start_date=None,
                session_report_count=rnd.randrange(6), learner_sid=learner, learner_first_name=first,
                learner_last_name=last, learner_email=email, course_title=course.title, exam_title=exam.title,
                learner_first_name_search=first.lower(), learner_last_name_search=last.lower(),
                learner_email_search=email, learner_sid_search=learner.lower(), course_title_search=course.title.lower(),
                exam_title_search=exam.title.lower(),
                search_text="\n".join([f"{first} {last}", email, course.title, exam.title]).lower(),
                raw=dumps(raw), content_hash=secrets.token_hex(32), first_seen_at=now, last_seen_at=now,
                removed_at=None)
            yield [values[f.name] for f in fields]

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE x.indrelid = %s::regclass AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)", [TABLE])
        secondary = cursor.fetchall()
        for name, _definition in secondary:
            cursor.execute(f'DROP INDEX "{name}"')
        with transaction.atomic():
            with cursor.cursor.copy(f"COPY {TABLE} ({', '.join(columns)}) FROM STDIN") as copy:
                for i, row in enumerate(rows()):
                    copy.write_row(row)
                    if i and i % 200_000 == 0:
                        print(f"  {i:,} rows written ({time.monotonic() - started:.0f} s)", flush=True)
        print(f"  {n:,} rows copied in {time.monotonic() - started:.0f} s; rebuilding {len(secondary)} indexes",
              flush=True)
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for _name, definition in secondary:
            cursor.execute(definition)
        cursor.execute("RESET maintenance_work_mem")
    print(f"  indexes rebuilt ({time.monotonic() - started:.0f} s)", flush=True)
    call_command("appointment_counts", "--rebuild")  # rows written here bypass the sync, which keeps them
    UpstreamState.objects.update_or_create(upstream="smarterproctoring", defaults={"last_success_at": now})
    staff_add(username="bench", role="coordinator", courses=[], password=None)
    get_user_model().objects.filter(username="bench").update(is_staff=True, is_superuser=True)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {TABLE}")
        cursor.execute("ANALYZE")
        cursor.execute("CREATE TABLE bench_populated (n integer)")
        cursor.execute("INSERT INTO bench_populated VALUES (%s)", [n])
    print(f"populated {n:,} appointments in {time.monotonic() - started:.0f} s", flush=True)


# --- the views -------------------------------------------------------------------------------------------------------
def views() -> list[tuple[str, str]]:
    """(name, path): ours (each single filter the list offers), the admin, the minimal page."""
    from proctordash.core import timezones

    today = datetime.now(timezones.dashboard_zone()).date()
    course, exam, offering = hexsid("CU", 7), hexsid("EX", 47), hexsid("CO", 7)
    list_url = "/appointments/"
    return [
        ("default (from today)", list_url),
        ("all dates", list_url + "?when=all"),
        ("past", list_url + "?when=past"),
        ("status=Scheduled", list_url + "?status=Scheduled"),
        ("status=Scheduled, all dates", list_url + "?status=Scheduled&when=all"),
        ("courseSid", list_url + f"?courseSid={course}"),
        ("examSid", list_url + f"?examSid={exam}"),
        ("courseOfferingSid", list_url + f"?courseOfferingSid={offering}"),
        ("type=proctoru", list_url + "?type=proctoru"),
        ("reviewStatus=pending", list_url + "?reviewStatus=pending"),
        ("examStatus=draft", list_url + "?examStatus=draft"),
        ("date range (30 days)", list_url + f"?appointmentAfter={today - timedelta(days=30)}"
                                            f"&appointmentBefore={today}"),
        ("q=lovelace (common)", list_url + "?q=lovelace"),
        ("q=lovelace123 (rare)", list_url + "?q=lovelace123"),
        ("learnerFirstName=grace", list_url + "?learnerFirstName=grace"),
        ("learnerLastName=hopper42", list_url + "?learnerLastName=hopper42"),
        ("learnerEmail=ken.turing7", list_url + "?learnerEmail=ken.turing7"),
        ("learnerSid (whole)", list_url + f"?learnerSid={hexsid('US', 4242)}"),
        ("courseTitle=biology", list_url + "?courseTitle=biology"),
        ("examTitle=midterm", list_url + "?examTitle=midterm"),
        ("page 2", list_url + "?page=2"),
        ("last page", list_url + "?page=1000000"),
        ("status=Scheduled, last page", list_url + "?status=Scheduled&page=1000000"),
        ("sort=learner", list_url + "?when=all&sort=learner"),
        ("admin status=Scheduled", "/admin/appointments/appointment/?status__exact=Scheduled"),
        ("minimal page", "/bench/minimal/"),
    ]


# the side-by-side view (status=Scheduled over every date: 19,855 matches at 100k in its measurement), the
# same rows as the admin's status__exact=Scheduled
OURS_REFERENCE = "status=Scheduled, all dates"


def overview_of(path: str, user) -> tuple[str, str]:
    """(matches as the list shows them, where the count came from) for one of our views."""
    from django.http import QueryDict

    from proctordash.appointments import selectors
    from proctordash.appointments.forms import AppointmentFilterForm

    query = path.split("?", 1)[1] if "?" in path else ""
    form = AppointmentFilterForm(QueryDict(query), pickers={})
    if not form.is_valid():
        return "invalid", ""
    overview = selectors.appointment_overview(user=user, filters=form.cleaned_data)
    return overview.display, overview.source


def signed_in_client():
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.get(username="bench")
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    return client, user


def measure(sizes: list[int], clients: dict, paths: list[tuple[str, str]], rounds: int, warmup: int) -> dict:
    """{(size, view): [(wall ms, app cpu ms, pg cpu ms), …]}"""
    from django.db import connection

    samples: dict = {(n, name): [] for n in sizes for name, _ in paths}
    for r in range(warmup + rounds):
        for n in sizes:
            pid = use_database(db_name(n))
            client = clients[n]
            assert client.get("/bench/minimal/").status_code == 200  # the new connection's first request, unmeasured
            order = paths[r % len(paths):] + paths[:r % len(paths)]
            for name, path in order:
                pg0, cpu0, wall0 = backend_cpu_ms(pid), time.process_time(), time.perf_counter()
                response = client.get(path)
                body = response.content
                wall1, cpu1, pg1 = time.perf_counter(), time.process_time(), backend_cpu_ms(pid)
                if response.status_code != 200 or b"<html" not in body[:2000].lower():
                    raise SystemExit(f"{name} at {n}: status {response.status_code}")
                if connection.connection is None or backend_pid() != pid:
                    raise SystemExit(f"{name} at {n}: the database connection changed during the request")
                if r >= warmup:
                    samples[n, name].append(((wall1 - wall0) * 1000, (cpu1 - cpu0) * 1000, pg1 - pg0))
        print(f"  round {r + 1}/{warmup + rounds}{' (warm-up)' if r < warmup else ''}, load average {loadavg()}",
              flush=True)
    return samples


def summarise(samples: list[tuple]) -> dict:
    walls, apps, pgs = zip(*samples)
    return {"wall": statistics.median(walls), "app": statistics.median(apps), "pg": statistics.median(pgs),
            "cpu": statistics.median(a + p for a, p in zip(apps, pgs)), "n": len(samples)}


def slowest_queries(path: str, client, explain: bool) -> None:
    """Every SQL statement of one request with its time; with `explain`, EXPLAIN (ANALYZE, BUFFERS) of each that
    reads the appointment tables."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        client.get(path)
    print(f"\nqueries of {path}: {len(queries)}, SQL {sum(float(q['time']) for q in queries.captured_queries) * 1000:.1f} ms "
          "(as the driver timed them)", flush=True)
    for q in queries.captured_queries:
        print(f"  {float(q['time']) * 1000:7.2f} ms  {q['sql'][:200]}", flush=True)
    if not explain:
        return
    for q in queries.captured_queries:
        sql = q["sql"]
        if not sql.lstrip().upper().startswith("SELECT") or "appointments_" not in sql:
            continue
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            plan = "\n".join("    " + row[0] for row in cursor.fetchall())
        print(f"\nEXPLAIN (ANALYZE, BUFFERS) {sql}\n{plan}", flush=True)


# --- the export (child process) --------------------------------------------------------------------------------------
def rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def export_child(parallel: bool) -> None:
    """Runs in a fresh process on the database of DATABASE_URL: one warm-up export of one row, then the whole
    export (?when=all) streamed; prints one JSON line."""
    django_setup(parallel)
    client, _user = signed_in_client()
    response = client.get(f"/appointments/export.csv?when=all&learnerSid={hexsid('US', 1)}")
    assert response.status_code == 200
    warm = b"".join(response.streaming_content)
    assert warm.count(b"\n") == 2, warm[:500]
    base_rss, base_max = rss_kb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak, size, lines = base_rss, 0, 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    response = client.get("/appointments/export.csv?when=all")
    assert response.status_code == 200 and response.streaming
    for i, chunk in enumerate(response.streaming_content):
        size += len(chunk)
        lines += chunk.count(b"\n")
        if i % 4 == 0:
            peak = max(peak, rss_kb())
    peak = max(peak, rss_kb())
    print("EXPORT " + json.dumps({
        "rows": lines - 1, "bytes": size, "wall_s": time.perf_counter() - wall0, "cpu_s": time.process_time() - cpu0,
        "rss_before_mb": base_rss / 1024, "rss_peak_growth_mb": (peak - base_rss) / 1024,
        "maxrss_growth_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_max) / 1024}), flush=True)


def export_run(env: dict, server_url: str, n: int, parallel: bool) -> dict:
    child_env = {**os.environ, **env, "DATABASE_URL": server_url.rsplit("/", 1)[0] + "/" + db_name(n)}
    args = [PY, __file__, "--export-child"] + (["--parallel"] if parallel else [])
    out = subprocess.run(args, cwd=ROOT, env=child_env, capture_output=True, text=True)
    line = next((l for l in out.stdout.splitlines() if l.startswith("EXPORT ")), None)
    if line is None:
        raise SystemExit(f"export child failed at {n}:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return json.loads(line[7:])


# --- main ------------------------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", help="server URL (the databases bench_scale_* are created on it)")
    parser.add_argument("--sizes", default="100000,1000000", type=lambda v: [int(x) for x in v.split(",")])
    parser.add_argument("--requests", type=int, default=30, help="measured rounds (each view once per round)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the databases and reuse them next time")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--skip-export", action="store_true")
    parser.add_argument("--parallel", action="store_true", help="leave parallel query on (its CPU goes uncounted)")
    parser.add_argument("--json", help="also write the medians to this file")
    parser.add_argument("--export-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_child:
        export_child(args.parallel)
        return
    if not args.postgres:
        parser.error("--postgres URL is required (this benchmark is PostgreSQL only)")

    started_at = datetime.now(dt_timezone.utc)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    print(f"bench_list_scale {started_at:%Y-%m-%d %H:%M} UTC, commit {commit}, sizes {args.sizes}, "
          f"load average {loadavg()}", flush=True)
    var = Path(tempfile.mkdtemp(prefix="bench-list-scale-"))
    from proctordash.core import embedded_redis

    redis_server, redis_socket = embedded_redis.start(var / "redis")
    ready = {n: database_ready(args.postgres, db_name(n), n, args.keep) for n in args.sizes}
    env = django_env(var, args.postgres, db_name(args.sizes[0]), redis_socket)
    os.environ.update(env)
    try:
        django_setup(args.parallel)
        from django.core.management import call_command
        from django.utils import timezone

        from proctordash.sync.models import UpstreamState

        clients, users = {}, {}
        for n in args.sizes:
            use_database(db_name(n))
            call_command("migrate", verbosity=0)
            if ready[n]:
                print(f"reusing {db_name(n)} ({n:,} appointments)", flush=True)
            else:
                print(f"populating {db_name(n)} with {n:,} appointments …", flush=True)
                populate(n)
            UpstreamState.objects.filter(upstream="smarterproctoring").update(last_success_at=timezone.now())
            clients[n], users[n] = signed_in_client()
        call_command("collectstatic", verbosity=0, interactive=False)
        paths = views()
        matches = {}
        for n in args.sizes:
            use_database(db_name(n))
            for name, path in paths:
                if path.startswith("/appointments/"):
                    matches[n, name] = overview_of(path, users[n])
        print(f"measuring: {args.warmup} warm-up + {args.requests} rounds × {len(args.sizes)} sizes × "
              f"{len(paths)} views, load average {loadavg()}", flush=True)
        t0 = time.monotonic()
        samples = measure(args.sizes, clients, paths, args.requests, args.warmup)
        print(f"measured in {time.monotonic() - t0:.0f} s, load average {loadavg()}", flush=True)
        stats = {key: summarise(values) for key, values in samples.items()}
        figures = report(args.sizes, paths, stats, matches)
        if args.json:
            Path(args.json).write_text(json.dumps({"commit": commit, "started": started_at.isoformat(),
                                                   "figures": figures, "matches": {f"{label(n)}|{name}": v for (n, name), v in matches.items()}},
                                                  indent=1, ensure_ascii=False))

        big = args.sizes[-1]
        ours = [(name, path) for name, path in paths if path.startswith("/appointments/")]
        slow_name, slow_path = max(ours, key=lambda v: stats[big, v[0]]["cpu"])
        use_database(db_name(big))
        print(f"\nslowest of ours at {label(big)} by CPU: {slow_name}", flush=True)
        slowest_queries(slow_path, clients[big], args.explain)
        if args.explain:
            ref = dict(paths)[OURS_REFERENCE]
            print(f"\n(and the reference view {OURS_REFERENCE} at {label(big)})", flush=True)
            slowest_queries(ref, clients[big], True)

        index_floor(args.sizes, stats, paths)

        if not args.skip_export:
            from django.db import connection

            connection.close()
            print("\nexport (/appointments/export.csv?when=all, fresh process per size):", flush=True)
            for n in args.sizes:
                result = export_run(env, args.postgres, n, args.parallel)
                print(f"  {label(n):>5}: {result['rows']:,} rows, {result['bytes'] / 2**20:.0f} MiB in "
                      f"{result['wall_s']:.1f} s ({result['cpu_s']:.1f} s CPU); RSS {result['rss_before_mb']:.0f} MB "
                      f"before, peak growth {result['rss_peak_growth_mb']:.1f} MB (ru_maxrss growth "
                      f"{result['maxrss_growth_mb']:.1f} MB)", flush=True)
        print(f"\nload average at the end {loadavg()}", flush=True)
    finally:
        from django.db import connection

        connection.close()
        embedded_redis.stop(redis_server, var / "redis")
        if not args.keep:
            import psycopg

            with psycopg.connect(args.postgres, autocommit=True) as conn:
                for n in args.sizes:
                    conn.execute(f'DROP DATABASE IF EXISTS "{db_name(n)}" WITH (FORCE)')


RARE_TEXT = {"q=lovelace123 (rare)": "lovelace123", "learnerLastName=hopper42": "hopper42",
             "learnerEmail=ken.turing7": "ken.turing7"}


def index_floor(sizes: list[int], stats: dict, paths: list[tuple[str, str]]) -> None:
    """What any exact count of a rare value costs through the trigram index, at each size (warm, median of 7): the
    index scan alone (the posting lists of the value's trigrams), and the scan plus the visit to every candidate row
    it yields (the recheck: a trigram match is only a candidate). Beside the page's CPU at the smallest size: were
    the page the same but for that work, its ratio would be at least this."""
    from django.db import connection

    small, big = sizes[0], sizes[-1]
    scans: dict[tuple[int, str], tuple[float, float, int]] = {}
    for n in sizes:
        use_database(db_name(n))
        with connection.cursor() as cursor:
            cursor.execute("SET enable_seqscan = off")
            for name, value in RARE_TEXT.items():
                times = []
                for _ in range(8):
                    cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) SELECT count(*) FROM appointments_appointment "
                                   "WHERE search_text LIKE %s", [f"%{value}%"])
                    plan = cursor.fetchone()[0][0]["Plan"]
                    index, heap = _find_node(plan, "Bitmap Index Scan"), _find_node(plan, "Bitmap Heap Scan")
                    times.append((index["Actual Total Time"], heap["Actual Total Time"], int(index["Actual Rows"])))
                scans[n, name] = (statistics.median(t[0] for t in times[1:]),
                                  statistics.median(t[1] for t in times[1:]), times[-1][2])
            cursor.execute("RESET enable_seqscan")
    print(f"\nfloor (ms): the trigram index scan alone, and with the visit to each candidate, at {label(small)} and "
          f"{label(big)}; the page at {label(small)} plus only that growth, ÷ the page at {label(small)}", flush=True)
    for name in RARE_TEXT:
        (i0, h0, c0), (i1, h1, c1) = scans[small, name], scans[big, name]
        page = stats[small, name]["cpu"]
        print(f"  {name:28s} scan {i0:5.2f} → {i1:5.2f}, with {c0:,} → {c1:,} candidates {h0:5.2f} → {h1:5.2f}; "
              f"page {page:.1f} → ≥ {(page + i1 - i0) / page:.2f}× (scan), ≥ {(page + h1 - h0) / page:.2f}× "
              f"(scan + candidates)", flush=True)


def _find_node(plan: dict, node_type: str) -> dict:
    if plan.get("Node Type") == node_type:
        return plan
    for child in plan.get("Plans", []):
        found = _find_node(child, node_type)
        if found:
            return found
    return {}


def report(sizes: list[int], paths: list[tuple[str, str]], stats: dict, matches: dict) -> dict:
    small, big = sizes[0], sizes[-1]
    minimal, admin = "minimal page", "admin status=Scheduled"
    print(f"\nmedians per request (ms): wall p50, CPU = app + PostgreSQL backend; ratios {label(big)} ÷ {label(small)}",
          flush=True)
    head = f"{'view':30s}"
    for n in sizes:
        head += f" | {label(n) + ' matches':>16s} {'wall':>7s} {'app':>6s} {'pg':>6s} {'cpu':>6s}"
    head += f" | {'wall ×':>6s} {'cpu ×':>6s} | {'cpu ÷ min':>9s}"
    print(head, flush=True)
    for name, path in paths:
        line = f"{name:30s}"
        for n in sizes:
            s = stats[n, name]
            shown = matches.get((n, name), ("", ""))
            line += (f" | {(shown[0] + ' ' + shown[1][:1]) if shown[0] else '':>16s} {s['wall']:7.1f} {s['app']:6.1f} "
                     f"{s['pg']:6.1f} {s['cpu']:6.1f}")
        line += (f" | {stats[big, name]['wall'] / stats[small, name]['wall']:6.2f} "
                 f"{stats[big, name]['cpu'] / stats[small, name]['cpu']:6.2f} |")
        line += " ".join(f"{stats[n, name]['cpu'] / stats[n, minimal]['cpu']:4.1f}" for n in sizes)
        print(line, flush=True)
    print("(matches: as the list shows them; c = from the per-day counts, r = counted rows, s = sampled)", flush=True)
    for n in sizes:
        ours = stats[n, OURS_REFERENCE]
        print(f"{label(n)}: {OURS_REFERENCE} {ours['cpu']:.1f} ms CPU ({ours['app']:.1f} app + {ours['pg']:.1f} pg), "
              f"minimal {stats[n, minimal]['cpu']:.1f} ms, admin {stats[n, admin]['cpu']:.1f} ms: "
              f"ours ÷ minimal {ours['cpu'] / stats[n, minimal]['cpu']:.2f}× (target ≤ 2.5), "
              f"admin ÷ ours {stats[n, admin]['cpu'] / ours['cpu']:.1f}× (target ≥ 5)", flush=True)
    worst = max((name for name, path in paths if path.startswith("/appointments/")),
                key=lambda name: stats[big, name]["wall"] / stats[small, name]["wall"])
    print(f"ours ÷ minimal, worst view at each size: " + ", ".join(
        f"{label(n)} {w} {stats[n, w]['cpu'] / stats[n, minimal]['cpu']:.2f}×" for n in sizes
        for w in [max((name for name, path in paths if path.startswith('/appointments/')),
                      key=lambda name: stats[n, name]['cpu'])]), flush=True)
    print(f"largest wall ratio {label(big)} ÷ {label(small)} among ours: {worst} "
          f"{stats[big, worst]['wall'] / stats[small, worst]['wall']:.2f}× (target ≤ 1.3)", flush=True)
    return {f"{label(n)}|{name}": stats[n, name] for n in sizes for name, _ in paths}


if __name__ == "__main__":
    main()
