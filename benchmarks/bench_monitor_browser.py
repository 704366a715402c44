"""The live monitor in Chromium at 20,000 ProctorExam sessions (issue 15 item 5): the first response's HTML bytes, the
page's element count, DOMContentLoaded, the poll's p50 (nothing changed, and five rows changed), the page width at
1366 and 390 px; with `--screens DIR` also the monitor, a session, the readiness board and the health page at both
widths.

Usage: .venv/bin/python benchmarks/bench_monitor_browser.py [--sessions 20000] [--exams 40] [--loads 7] [--polls 30]
                                                             [--workers 2] [--var DIR] [--keep] [--screens docs/screens]

- Builds a throw-away SQLite cache (migrations applied, DEBUG off) written through the sync's own mappings: `--exams`
  open ProctorExam exams with `--sessions` student sessions between them. Half the exams run today (booked slots
  spread from 3 h ago to 4 h ahead, like the sandbox's live exams), half later this week; each session's status,
  checks and incidents follow the sandbox's timeline for its slot (registered → check mails → requirements → in setup
  15 min before the slot → started → finished; 4 % bounced e-mails, 6 % no-shows, 4 % failed checks). Plus 400
  SmarterProctoring appointments from 3 h ago to an hour ahead. Served by gunicorn (`--workers` sync workers) with an
  embedded Redis on loopback.
- Chromium (Debian's, through Playwright) signs in as a coordinator, then loads /monitor/ `--loads` times at
  1366×900 (each load a new look, as a reload is) and reports the navigation timing's median DOMContentLoaded and
  server time, the HTML's bytes, the element count and the page width; then the width at 390 px.
- Polls: `--polls` times "poll now" with nothing changed, then `--polls` times after five sessions changed (their
  content hash moved, as a sync writes a changed record); each poll timed in the page from the request's start to
  its end (resource timing) — p50 reported.
This is a measurement, not a test: nothing fails when a figure is missed.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
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
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_appointments as base_bench  # noqa: E402  (free_port, login, PASSWORD)

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]
FIRSTS = ["Ada", "Grace", "Alan", "Zoë", "Linus", "Margaret", "Ken", "Barbara", "Edsger", "Frances", "Tim", "Radia",
          "Łukasz", "Aiyana", "Søren", "Mei", "Omar", "Priya", "Chidi", "Noor"]
LASTS = ["Lovelace", "Hopper", "Turing", "Ødegård", "Torvalds", "Hamilton", "Thompson", "Liskov", "Dijkstra",
         "Nakamura", "García", "Okafor", "Kowalczyk", "van der Berg"]
SUBJECTS = ["BIO 100", "CHEM 210", "HIST 104", "STAT 108", "PHIL 112", "LAW 301", "NURS 220", "ECON 150"]
TITLES = ["Midterm", "Final exam", "Quiz 2", "Unit 1 test", "Cumulative final (make-up)"]
COMMENTS = ["Looked away from the screen", "Second voice in the room", "Phone visible on the desk",
            "Left the camera's view", "Talking", "Face not visible", "Second screen detected"]
HOUR, MINUTE = 3600, 60


def iso(ts: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def session_raw(rnd: random.Random, sid: int, exam: dict, slot: float, now: float) -> dict:
    """One student session as ProctorExam lists it at `now`, on the sandbox's timeline for a slot."""
    branch = rnd.choices(["normal", "bounced", "no_show", "failed_check"], weights=[86, 4, 6, 4])[0]
    duration = exam["duration"] * 60 * rnd.uniform(0.5, 1.0)
    created = min(slot, now) - rnd.uniform(4, 10) * 86400
    steps = [(created, "registered"), (slot - 72 * HOUR, "before_check_req_mail")]
    if branch == "bounced":
        steps.append((slot - 71 * HOUR, "email_bounced"))
    else:
        steps += [(slot - 71 * HOUR, "email_sent"), (slot - 48 * HOUR, "after_check_req_mail"),
                  (slot - 24 * HOUR, "before_check_req"), (slot - 3 * HOUR, "after_check_req"),
                  (slot - 15 * MINUTE, "in_setup")]
        steps += [(slot, "exam_not_started")] if branch == "no_show" else \
            [(slot, "exam_started"), (slot + duration, "exam_finished")]
    status, changed = "registered", created
    for at, name in steps:
        if at <= now:
            status, changed = name, max(at, created)
    started = status in ("exam_started", "exam_finished")
    checked = status in ("after_check_req", "in_setup", "exam_started", "exam_finished", "exam_not_started")
    check = ("failed" if branch == "failed_check" else "passed") if checked else "not_started"
    incidents = []
    if branch == "normal" and started:
        for _ in range(rnd.choices([0, 1, 2, 3, 4], weights=[45, 25, 15, 10, 5])[0]):
            at = slot + rnd.uniform(60, duration)
            if at <= now:
                incidents.append({"id": sid * 10 + len(incidents), "student_session_id": sid,
                                  "comment": rnd.choice(COMMENTS), "offset_time": int(at - slot),
                                  "created_at": iso(at), "updated_at": iso(at)})
                changed = max(changed, at)
    first, last = rnd.choice(FIRSTS), rnd.choice(LASTS)
    return {"id": sid, "exam_id": exam["id"], "name": f"{first} {last}",
            "email": f"{first}.{last}.{sid}@students.example.edu".lower().replace(" ", ""),
            "status": status, "webcam_check": check, "microphone_check": check, "screenshare_check": check,
            "speakers_check": "passed" if checked else "not_started", "mobile_check": "not_started",
            "bandwidth_check": check, "start_time": iso(slot) if started else None,
            "end_time": iso(slot + duration) if status == "exam_finished" else None,
            "entered_room": started, "reviewed": None, "reservation_time": iso(slot),
            "created_at": iso(created), "updated_at": iso(changed), "incidents": incidents,
            "operating_system": "Windows 11", "browser": "Chrome", "time_slot": 1}


def populate(sessions: int, n_exams: int) -> None:
    from django.utils import timezone

    from proctordash.accounts.services import staff_add
    from proctordash.appointments.mapping import appointments_write
    from proctordash.monitoring.mapping import exams_write, student_sessions_write
    from proctordash.sync.models import UpstreamState

    rnd = random.Random(42)
    now_dt = timezone.now()
    now = now_dt.timestamp()
    exams = []
    for i in range(n_exams):
        live = i % 2 == 0
        start = now - rnd.uniform(2, 8) * HOUR if live else now + rnd.uniform(0.5, 2) * 86400
        exams.append({"id": i + 1, "name": f"{SUBJECTS[i % len(SUBJECTS)]} {TITLES[i % len(TITLES)]} ({i + 1})",
                      "status": "open", "start_time": iso(start), "end_time": iso(start + 30 * HOUR),
                      "duration": rnd.choice([60, 90, 120]), "_live": live, "_start": start})
    exams_write([{k: v for k, v in e.items() if not k.startswith("_")} for e in exams], now=now_dt)
    per_exam = sessions // n_exams
    sid = 1
    for exam in exams:
        records = []
        for _ in range(per_exam):
            slot = now + rnd.uniform(-3, 4) * HOUR if exam["_live"] else \
                exam["_start"] + rnd.uniform(0, 3) * 86400
            records.append(session_raw(rnd, sid, exam, round(slot / 60) * 60, now))
            sid += 1
        student_sessions_write(exam["id"], records, seen_before=now_dt, now=now_dt)
    appointments = []
    for i in range(400):
        date = now + rnd.uniform(-3, 1) * HOUR
        status = rnd.choices(["Scheduled", "In Progress", "Needs Proctor"], weights=[70, 25, 5])[0]
        first, last = rnd.choice(FIRSTS), rnd.choice(LASTS)
        appointments.append({
            "sid": "ES" + f"{i:032x}", "status": status, "appointmentDate": iso(date),
            "recordingStartDate": iso(date + 60) if status == "In Progress" or (date < now and rnd.random() < .9)
            else None, "examSid": "EX" + f"{i % 150:032x}", "sessionType": "b-virtual",
            "enrollment": {"firstName": first, "lastName": last, "email": f"{first}.{i}@example.edu".lower(),
                           "userSid": "US" + f"{i:032x}"},
            "course": {"sid": "CU" + f"{i % 40:032x}", "title": f"{SUBJECTS[i % len(SUBJECTS)]} section {i % 40}"},
            "exam": {"sid": "EX" + f"{i % 150:032x}", "title": TITLES[i % len(TITLES)], "status": "active"},
            "examConfiguration": {"duration": rnd.choice([60, 90, 120])}})
    appointments_write(appointments, now=now_dt)
    UpstreamState.objects.create(upstream="proctorexam", last_success_at=now_dt)
    UpstreamState.objects.create(upstream="smarterproctoring", last_success_at=now_dt)
    staff_add(username="bench", role="coordinator", courses=[], password=base_bench.PASSWORD)


NAVIGATION = """() => {
  const n = performance.getEntriesByType('navigation')[0];
  return {dcl: n.domContentLoadedEventEnd - n.startTime, server: n.responseStart - n.requestStart,
          response_end: n.responseEnd - n.startTime, bytes: n.decodedBodySize, transfer: n.transferSize,
          elements: document.getElementsByTagName('*').length, width: document.documentElement.scrollWidth,
          rows: document.querySelectorAll('#monitor-table tbody.session, #monitor-table tbody.appointment').length,
          counts: document.querySelectorAll('#monitor-table tbody.bucket').length};
}"""

POLL = """async () => {
  performance.clearResourceTimings();
  const done = new Promise(resolve => document.body.addEventListener('htmx:afterRequest', e => {
    if (e.detail.elt.hasAttribute('data-monitor-poll')) resolve(e.detail.xhr.status); }, {once: true}));
  htmx.trigger(document.querySelector('[data-monitor-poll]'), 'monitor-poll-now');
  const status = await done;
  await new Promise(resolve => requestAnimationFrame(() => setTimeout(resolve, 0)));
  const entry = performance.getEntriesByType('resource').filter(e => e.name.endsWith('/monitor/poll/')).pop();
  return {status: status, ms: entry ? entry.responseEnd - entry.startTime : null,
          server: entry ? entry.responseStart - entry.requestStart : null, bytes: entry ? entry.encodedBodySize : 0};
}"""


def change_rows(ids: list[int]) -> None:
    """Sessions shown on the page change upstream (the sync writes their new hash): what a poll must then send."""
    from django.db import connection

    from proctordash.monitoring.models import StudentSession

    StudentSession.objects.filter(id__in=ids).update(content_hash=secrets.token_hex(32))
    connection.close()


def measure(base: str, cookie: str, loads: int, polls: int, screens: Path | None) -> dict:
    from playwright.sync_api import sync_playwright

    out: dict = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        context = browser.new_context(viewport={"width": 1366, "height": 900})
        context.add_cookies([{"name": "sessionid", "value": cookie, "url": base}])
        page = context.new_page()
        page.goto(f"{base}/monitor/")  # warm the workers
        out["loads"] = []
        for _ in range(loads):
            page.goto(f"{base}/monitor/", wait_until="load")
            out["loads"].append(page.evaluate(NAVIGATION))
        if screens:
            page.screenshot(path=str(screens / "monitor-1366.png"))
        page.evaluate("() => sessionStorage.setItem('proctordash.monitor.paused', '0')")
        out["poll_same"] = [page.evaluate(POLL) for _ in range(polls)]
        changed = []
        shown = page.evaluate("() => [...document.querySelectorAll('#monitor-table tbody.session')].map(e => +e.id.slice(3))")
        rnd = random.Random(7)
        for _ in range(polls):
            change_rows(rnd.sample(shown, 5))
            changed.append(page.evaluate(POLL))
        out["poll_changed"] = changed
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{base}/monitor/", wait_until="load")
        out["width_390"] = page.evaluate("document.documentElement.scrollWidth")
        if screens:
            page.screenshot(path=str(screens / "monitor-390.png"))
            page.set_viewport_size({"width": 1366, "height": 900})
            from proctordash.monitoring.models import StudentSession

            session_id = StudentSession.objects.filter(status="exam_started", incident_count__gt=1).order_by(
                "id").values_list("id", flat=True).first()
            session_url = f"/monitor/sessions/{session_id}/"
            for name, url in (("session", session_url), ("readiness", "/monitor/readiness/"), ("health", "/health/")):
                for width, height in ((1366, 900), (390, 844)):
                    page.set_viewport_size({"width": width, "height": height})
                    page.goto(base + url, wait_until="load")
                    out[f"{name}_width_{width}"] = page.evaluate("document.documentElement.scrollWidth")
                    page.screenshot(path=str(screens / f"{name}-{width}.png"))
        browser.close()
    return out


def lighthouse(cli: str, base: str, cookie: str, var: Path, runs: int = 3) -> None:
    """Lighthouse's performance category on /monitor/ (desktop preset, Debian's Chromium, the session cookie)."""
    import json

    scores = []
    for i in range(runs):
        report = var / f"lighthouse-{i}.json"
        subprocess.run([cli, f"{base}/monitor/", "--preset=desktop", "--only-categories=performance", "--quiet",
                        "--output=json", f"--output-path={report}", f"--extra-headers={json.dumps({'Cookie': f'sessionid={cookie}'})}",
                        "--chrome-flags=--headless=new " + " ".join(FLAGS)],
                       env={**os.environ, "CHROME_PATH": "/usr/bin/chromium"}, check=True, timeout=300)
        data = json.loads(report.read_text())
        audits = data["audits"]
        scores.append((data["categories"]["performance"]["score"] * 100, audits["first-contentful-paint"]["numericValue"],
                       audits["largest-contentful-paint"]["numericValue"], audits["total-blocking-time"]["numericValue"],
                       audits["cumulative-layout-shift"]["numericValue"], data["finalDisplayedUrl"]))
    for score, fcp, lcp, tbt, cls, url in scores:
        print(f"lighthouse {url}: performance {score:.0f}; FCP {fcp:.0f} ms, LCP {lcp:.0f} ms, TBT {tbt:.0f} ms, "
              f"CLS {cls:.3f}")
    print(f"lighthouse performance, median of {runs}: {statistics.median(s[0] for s in scores):.0f}")


def p50(values):
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--exams", type=int, default=40)
    parser.add_argument("--loads", type=int, default=7)
    parser.add_argument("--polls", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--var", help="working directory (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the populated store for a later run with --var")
    parser.add_argument("--screens", help="write the screenshots (1366 and 390 px) to this folder")
    parser.add_argument("--lighthouse", help="path of npm's lighthouse CLI (npm i -E lighthouse@12.2.3): also its "
                                             "performance score of /monitor/ (desktop preset), three runs")
    args = parser.parse_args()

    var = Path(args.var) if args.var else Path(tempfile.mkdtemp(prefix="bench-monitor-browser-"))
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
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # the rows changed between polls, from Playwright's thread
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
        populate(args.sessions, args.exams)
        (var / "populated").write_text(str(args.sessions))
        print(f"populated {args.sessions} sessions in {time.monotonic() - started:.0f} s ({var})", flush=True)
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
        r = measure(base, cookie, args.loads, args.polls, screens)
        loads = r["loads"]
        last = loads[-1]
        print(f"/monitor/ at {args.sessions} sessions, 1366x900, {len(loads)} loads: DOMContentLoaded median "
              f"{p50([x['dcl'] for x in loads]):.0f} ms (min {min(x['dcl'] for x in loads):.0f}, max "
              f"{max(x['dcl'] for x in loads):.0f}; target <= 1500); server (request to first byte) median "
              f"{p50([x['server'] for x in loads]):.0f} ms; HTML {last['bytes'] / 1024:.0f} KiB ({last['bytes']} B; "
              f"target <= 600 KB), {last['transfer'] / 1024:.0f} KiB transferred; {last['elements']} elements "
              f"(target <= 5000); {last['rows']} rows listed, {last['counts']} per-exam counts; page width "
              f"{last['width']} px at 1366, {r['width_390']} px at 390")
        same, changed = r["poll_same"], r["poll_changed"]
        print(f"poll, nothing changed ({len(same)}): p50 {p50([x['ms'] for x in same]):.0f} ms (server "
              f"{p50([x['server'] for x in same]):.0f} ms), statuses {sorted({x['status'] for x in same})}")
        print(f"poll, five shown sessions changed ({len(changed)}): p50 {p50([x['ms'] for x in changed]):.0f} ms (server "
              f"{p50([x['server'] for x in changed]):.0f} ms), answer {p50([x['bytes'] for x in changed]) / 1024:.1f} "
              f"KiB, statuses {sorted({x['status'] for x in changed})}")
        if args.lighthouse:
            lighthouse(args.lighthouse, base, cookie, var)
        widths = {k: v for k, v in r.items() if "_width_" in k}
        if widths:
            print("page widths: " + ", ".join(f"{k} {v}" for k, v in widths.items()))
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
