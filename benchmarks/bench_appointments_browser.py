"""What a coordinator feels on the appointment list in Chromium at 20,000 cached appointments (issue 14 item 7): the
time from a filter change to the new rows on screen, and how much of the list one 1366×900 screen shows.

Usage: .venv/bin/python benchmarks/bench_appointments_browser.py [--appointments 20000] [--changes 20] [--workers 2]
                                                                  [--var DIR] [--keep] [--screens docs/screens]

- Builds a throw-away SQLite cache (migrations applied, DEBUG off) with `--appointments` rows over 40 courses and 120
  exams (exam titles repeat across courses, as in real installs), dates from 260 days ago to 100 days ahead; serves
  it with gunicorn (`--workers` sync workers) and an embedded Redis on loopback.
- Chromium (Debian's, through Playwright) at 1366×900 opens /appointments/ (the default view: from today on,
  soonest first) and reports the first data row's top edge, the number of data rows entirely inside the window and
  whether every row is one line high.
- Then `--changes` times picks another status in the Status select with the mouse's path (select_option: one change
  event) and measures, inside the page, from the change event to the frame after htmx settled the new rows; the
  median is reported (target < 150 ms). This is not a test: nothing fails when the figure is missed.
- `--screens DIR`: also writes appointments-, appointment-detail-, review-queue- and learner-{1366,390}.png there
  (viewport-sized PNGs) and reports each page's width.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_appointments as base_bench  # noqa: E402  (free_port, login, PASSWORD, the environment)

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]
EXAM_TITLES = ["Midterm", "Final exam", "Quiz 1", "Quiz 2", "Lab practical", "Oral exam"]
SUBJECTS = ["Biology", "Chemistry", "History", "Statistics", "Physics", "Economics", "Law", "Nursing"]


def populate(n: int) -> None:
    import random
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from proctordash.accounts.services import staff_add
    from proctordash.appointments.models import Appointment, Course, CourseOffering, Exam
    from proctordash.core import vocabulary
    from proctordash.sync.models import UpstreamState

    rnd = random.Random(42)
    now = timezone.now()
    hexsid = lambda prefix, i: prefix + f"{i:032x}"  # noqa: E731
    courses = [Course(sid=hexsid("CU", i), title=f"{SUBJECTS[i % len(SUBJECTS)]} {101 + (i // len(SUBJECTS)) * 100}",
                      code=f"C{i:03d}", offering_sid=hexsid("CO", i), offering_title=f"Fall {2026 - i % 2}")
               for i in range(40)]
    Course.objects.bulk_create(courses)
    CourseOffering.objects.bulk_create([CourseOffering(sid=c.offering_sid, course_sid=c.sid, title=c.offering_title)
                                        for c in courses])
    exams = [Exam(sid=hexsid("EX", i), course_sid=courses[i % 40].sid, title=EXAM_TITLES[(i // 40) % len(EXAM_TITLES)],
                  status="active") for i in range(120)]
    Exam.objects.bulk_create(exams)
    firsts = ["Ada", "Grace", "Alan", "Zoë", "Linus", "Margaret", "Ken", "Barbara", "Edsger", "Frances", "Tim", "Radia"]
    lasts = ["Lovelace", "Hopper", "Turing", "Ødegård", "Torvalds", "Hamilton", "Thompson", "Liskov", "Dijkstra"]
    batch = []
    for i in range(n):
        exam = exams[rnd.randrange(len(exams))]
        course = courses[int(exam.sid[2:], 16) % 40]
        first, last = rnd.choice(firsts), rnd.choice(lasts) + str(rnd.randrange(1000))
        email = f"{first}.{last}.{rnd.randrange(10**6)}@students.example.edu".lower()
        review = rnd.choice(vocabulary.REVIEW_STATUSES)
        date = now + timedelta(minutes=rnd.randrange(-260 * 24 * 60, 100 * 24 * 60)) if rnd.random() > 0.02 else None
        iso = lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.000Z")  # noqa: E731
        opened = (date or now) - timedelta(days=20)
        raw = {"sid": hexsid("AP", i), "exam": {"sid": exam.sid, "title": exam.title, "type": "Online",
                                                "instructorName": "Dr. Rosalind Franklin"},
               "enrollment": {"firstName": first, "lastName": last, "email": email, "role": "student"},
               "course": {"sid": course.sid, "title": course.title, "code": course.code,
                          "offering": {"sid": course.offering_sid, "title": course.offering_title}},
               "examConfiguration": {"sid": hexsid("EC", i % 120), "duration": 90, "attempts": 1,
                                     "examOpenDate": iso(opened), "examCloseDate": iso(opened + timedelta(days=40)),
                                     "scheduleOpenDate": iso(opened - timedelta(days=10)),
                                     "scheduleCloseDate": iso(opened + timedelta(days=39)),
                                     "permittedCalculator": True, "permittedCalculatorInformation": "Non-graphing only",
                                     "permittedNotes": False, "permittedBlankPaper": True,
                                     "studentNotes": "Show your student card to the camera before you start."}}
        batch.append(Appointment(
            sid=hexsid("AP", i), exam_sid=exam.sid, enrollment_sid=hexsid("EN", i), course_sid=course.sid,
            course_offering_sid=course.offering_sid, status=rnd.choice(vocabulary.APPOINTMENT_STATUSES),
            session_type=rnd.choice(vocabulary.APPOINTMENT_TYPES), review_status=review, exam_status="active",
            appointment_date=date, review_by_date=(date + timedelta(days=3)) if date and review == "pending" else None,
            session_report_count=rnd.randrange(6), learner_sid=hexsid("US", i),
            configuration_sid=hexsid("EC", i % 120), learner_first_name=first,
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
    from proctordash.appointments.counts import counts_rebuild

    counts_rebuild()  # the per-day × status counts the sync keeps (rows written here bypass the sync)
    UpstreamState.objects.create(upstream="smarterproctoring", last_success_at=now)
    staff_add(username="bench", role="coordinator", courses=[], password=base_bench.PASSWORD)
    get_user_model().objects.filter(username="bench").update(is_staff=True)


DENSITY = """() => {
  const rows = Array.from(document.querySelectorAll('#results tbody tr'));
  const first = rows[0].getBoundingClientRect();
  const visible = rows.filter(r => { const b = r.getBoundingClientRect(); return b.top >= 0 && b.bottom <= innerHeight; });
  const heights = rows.map(r => r.getBoundingClientRect().height);
  const line = parseFloat(getComputedStyle(rows[0].cells[1]).lineHeight);
  return {first_row_top: first.top + scrollY, rows_visible: visible.length, rows: rows.length,
          max_row_height: Math.max(...heights), line_height: line,
          page_width: document.documentElement.scrollWidth};
}"""

CHANGE = """async (value) => {
  const select = document.getElementById('id_status');
  const marks = {};
  const names = ['htmx:beforeRequest', 'htmx:afterRequest', 'htmx:beforeSwap', 'htmx:afterSwap', 'htmx:afterSettle'];
  const handlers = names.map(name => { const h = () => { marks[name] = performance.now(); };
                                       document.body.addEventListener(name, h); return [name, h]; });
  const settled = new Promise(resolve => document.body.addEventListener('htmx:afterSettle', resolve, {once: true}));
  select.focus();  // as when a person picks the status
  const t0 = performance.now();
  select.value = value;
  select.dispatchEvent(new Event('change', {bubbles: true}));
  await settled;
  await new Promise(resolve => requestAnimationFrame(() => setTimeout(resolve, 0)));
  const total = performance.now() - t0;
  handlers.forEach(([name, h]) => document.body.removeEventListener(name, h));
  const entry = performance.getEntriesByType('resource').filter(e => e.name.includes('/appointments/?')).pop();
  performance.clearResourceTimings();
  const rel = name => marks[name] === undefined ? null : marks[name] - t0;
  return {total: total, server: entry ? entry.responseStart - entry.requestStart : null,
          bytes: entry ? entry.encodedBodySize : null, request: rel('htmx:beforeRequest'),
          response: rel('htmx:beforeSwap'), swapped: rel('htmx:afterSwap'), settled: rel('htmx:afterSettle')};
}"""


def measure(base: str, cookie: str, changes: int, screens: Path | None) -> dict:
    from playwright.sync_api import sync_playwright

    out: dict = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        context = browser.new_context(viewport={"width": 1366, "height": 900})
        context.add_cookies([{"name": "sessionid", "value": cookie, "url": base}])
        page = context.new_page()
        page.goto(f"{base}/appointments/")
        page.wait_for_selector("#results tbody tr")
        out["density"] = page.evaluate(DENSITY)
        if screens:
            page.screenshot(path=str(screens / "appointments-1366.png"))
        statuses = ["Scheduled", "Closed", "Needs Proctor", "Cancelled", "In Progress"]
        times = []
        for i in range(changes):
            times.append(page.evaluate(CHANGE, statuses[i % len(statuses)]))
            assert page.locator("#results tbody tr").count() > 0
        if os.environ.get("BENCH_LAYOUT"):  # what a full style + layout of the page costs, and of the results alone
            print(page.evaluate("""() => {
              const r = {}; const results = document.getElementById('results');
              for (const [name, el] of [['page', document.body], ['results', results]]) {
                const t = []; for (let i = 0; i < 5; i++) { el.style.width = (i % 2 ? '99.9%' : '100%');
                  const t0 = performance.now(); void document.body.offsetHeight; t.push(performance.now() - t0); }
                el.style.width = ''; t.sort((a, b) => a - b); r[name] = t[2];
              }
              r.elements = document.getElementsByTagName('*').length;
              r.result_elements = results.getElementsByTagName('*').length;
              return r; }"""))
        if os.environ.get("BENCH_CPU_PROFILE"):  # where one more change spends the page's time (DevTools profiler)
            cdp = context.new_cdp_session(page)
            cdp.send("Profiler.enable")
            cdp.send("Profiler.start")
            page.evaluate(CHANGE, "Closed")
            profile = cdp.send("Profiler.stop")["profile"]
            self_time: dict = {}
            nodes = {n["id"]: n for n in profile["nodes"]}
            deltas = dict(zip(profile["samples"], [0] * len(profile["samples"])))
            for sample, delta in zip(profile["samples"], profile["timeDeltas"]):
                f = nodes[sample]["callFrame"]
                key = f"{f['functionName'] or '(anon)'} {f['url'].rsplit('/', 1)[-1]}:{f['lineNumber']}"
                self_time[key] = self_time.get(key, 0) + delta / 1000
            for key, ms in sorted(self_time.items(), key=lambda kv: -kv[1])[:15]:
                print(f"  {ms:7.1f} ms  {key}")
        out["changes_ms"] = [t["total"] for t in times]
        # the floor on this machine at this moment: the same change when no row matches (a ~3 KiB fragment: the
        # request, Django's fixed cost, htmx and one frame, without the 50 rows)
        page.evaluate("() => { document.getElementById('id_q').value = 'zz-no-such-learner'; }")
        floor = [page.evaluate(CHANGE, statuses[i % len(statuses)])["total"] for i in range(changes)]
        out["floor_ms"] = floor
        out["server_ms"] = [t["server"] for t in times if t["server"] is not None]
        out["fragment_bytes"] = [t["bytes"] for t in times if t["bytes"]]
        out["phases"] = {k: statistics.median(t[k] for t in times if t[k] is not None)
                         for k in ("request", "response", "swapped", "settled", "total")}
        if screens:
            page.goto(f"{base}/appointments/")
            page.wait_for_selector("#results tbody tr")
            detail = page.locator("#results tbody tr td.learner a").first.get_attribute("href")
            page.goto(base + detail)
            page.screenshot(path=str(screens / "appointment-detail-1366.png"))
            page.set_viewport_size({"width": 390, "height": 844})
            out["detail_width_390"] = page.evaluate("document.documentElement.scrollWidth")
            page.screenshot(path=str(screens / "appointment-detail-390.png"))
            page.goto(f"{base}/appointments/")
            page.wait_for_selector("#results tbody tr")
            out["list_width_390"] = page.evaluate("document.documentElement.scrollWidth")
            page.screenshot(path=str(screens / "appointments-390.png"))
            person = page.locator("#results tbody td.learner a").first.get_attribute("href")
            for name, url in (("review-queue", "/appointments/review/"), ("learner", None)):
                if url is None:  # the first row's learner page, through its appointment's link
                    page.goto(base + person)
                    url = page.get_by_role("link", name="This learner's appointments and ProctorExam sessions") \
                        .get_attribute("href")
                for width, height in ((1366, 900), (390, 844)):
                    page.set_viewport_size({"width": width, "height": height})
                    page.goto(base + url)
                    out[f"{name}_width_{width}"] = page.evaluate("document.documentElement.scrollWidth")
                    page.screenshot(path=str(screens / f"{name}-{width}.png"))
        browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--appointments", type=int, default=20_000)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--var", help="working directory (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the populated store for a later run with --var")
    parser.add_argument("--screens", help="write the list and detail screenshots (1366 and 390 px) to this folder")
    args = parser.parse_args()

    var = Path(args.var) if args.var else Path(tempfile.mkdtemp(prefix="bench-appointments-browser-"))
    var.mkdir(parents=True, exist_ok=True)
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
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    call_command("collectstatic", verbosity=0, interactive=False)
    if (var / "populated").exists():
        from django.contrib.auth import get_user_model

        bench = get_user_model().objects.get(username="bench")
        bench.set_password(base_bench.PASSWORD)
        bench.save()
    else:
        started = time.monotonic()
        populate(args.appointments)
        (var / "populated").write_text(str(args.appointments))
        print(f"populated {args.appointments} appointments in {time.monotonic() - started:.0f} s ({var})", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    connection.close()

    port = base_bench.free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "proctordash.wsgi", "-w", str(args.workers), "-b",
                               f"127.0.0.1:{port}", "--access-logfile", "/dev/null"], cwd=ROOT,
                              env={**os.environ, **env}, stdout=open(var / "gunicorn.log", "wb"),
                              stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            try:
                requests.get(f"{base}/login/", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.2)
        cookie = base_bench.login(base)
        screens = Path(args.screens) if args.screens else None
        if screens:
            screens.mkdir(parents=True, exist_ok=True)
        print(f"load average before: {' '.join('%.2f' % x for x in os.getloadavg())}", flush=True)
        result = measure(base, cookie, args.changes, screens)
        d = result["density"]
        times = result["changes_ms"]
        print(f"1366x900, default view: first data row top {d['first_row_top']:.0f} px (target <= 400); "
              f"{d['rows_visible']} of {d['rows']} rows entirely visible (target >= 15); tallest row "
              f"{d['max_row_height']:.1f} px at line height {d['line_height']:.1f} px; page width {d['page_width']} px")
        print(f"filter change to new rows ({len(times)} status changes): median {statistics.median(times):.0f} ms "
              f"(target < 150), min {min(times):.0f}, max {max(times):.0f}; of which the server's answer (request to "
              f"first byte) median {statistics.median(result['server_ms']):.0f} ms, fragment "
              f"{statistics.median(result['fragment_bytes']) / 1024:.0f} KiB")
        print(f"  floor, the same change with no matching row: median {statistics.median(result['floor_ms']):.0f} ms")
        print("  phases (median ms after the change event): " + ", ".join(
            f"{k} {v:.0f}" for k, v in result["phases"].items()) + " (request sent, response in, swapped, settled, painted)")
        if "list_width_390" in result:
            print("page widths: " + ", ".join(f"{k} {v}" for k, v in result.items() if "_width_" in k))
        print(f"load average after: {' '.join('%.2f' % x for x in os.getloadavg())}", flush=True)
    finally:
        server.terminate()
        server.wait(10)
        embedded_redis.stop(redis_server, var / "redis")
        if not args.keep and not args.var:
            import shutil

            shutil.rmtree(var, ignore_errors=True)


if __name__ == "__main__":
    main()
