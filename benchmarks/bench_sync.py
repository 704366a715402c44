#!/usr/bin/env python
"""Sync figures (issues 6 and 18), one run side by side, loopback only, bounded:

1. a full sync of N appointments (default 100,000) from the sandbox into an empty cache, against the time of
   fetching the same pages one after another: with the client (it parses every record, as the sync does) and bare
   (HTTP GET and JSON decoding only). The sync fetches SYNC_FETCH_CONCURRENCY pages at once while one writer
   upserts (issue 18 target with 0.1 s per page: sync ≤ 0.5 × the sequential fetch);
2. scaling: a full sync of N/2 appointments into an empty cache in the same run (target: N takes ≤ 2.1 × N/2);
3. a second full pass and an incremental pass with no upstream change: upstream requests made, rows written
   (target: 0 rows);
4. peak memory (VmHWM) of a real Celery worker (`--pool solo`, so the task runs in the measured process) during a
   full sync of N and of N/10 appointments (target: within 50 MB of each other).

It also accounts for the CPU each run costs: this process, the sandbox and (with --postgres) PostgreSQL's server
processes. Two floors follow for the sync's wall time: all CPU ÷ the machine's cores (no overlap can beat it), and
this process's CPU alone (its Python threads share one GIL, so they use at most one core). `--latency S` makes the
sandbox wait S seconds before answering each appointments page (its per-request `latency` fault), as a remote
upstream would; fetch and sync see the same latency.

Usage: .venv/bin/python benchmarks/bench_sync.py [--appointments 100000] [--small 10000] [--skip-memory]
       [--skip-scaling] [--postgres URL] [--latency SECONDS] [--concurrency N] [--profile]
Everything lives in a temporary directory (SQLite or throw-away PostgreSQL databases, embedded Redis); nothing
touches var/ or a shared database.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sandbox(n: int, env: dict, log: Path) -> tuple[subprocess.Popen, str]:
    import requests

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([PY, "manage.py", "runsandbox", "--host", "127.0.0.1", "--port", str(port), "--seed",
                                "42", "--appointments", str(n)], cwd=ROOT, env=env, stdout=open(log, "wb"),
                               stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while True:
        try:
            if requests.get(f"{url}/_sandbox/health", timeout=2).ok:
                return process, url
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"sandbox did not start; see {log}")
        time.sleep(0.2)


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def worker_peak(n: int, base_env: dict, var: Path, postgres: str | None = None) -> dict:
    """Peak RSS of a solo-pool Celery worker running one full appointments sync of n records (into a throw-away
    PostgreSQL database beside `postgres` when given, else SQLite)."""
    from proctordash.sync.tasks import refresh_appointments_task

    sandbox, url = start_sandbox(n, base_env, var / f"sandbox-{n}.log")
    pg_admin = pg_name = None
    try:
        db = var / f"worker-{n}.sqlite3"
        database_url = f"sqlite:///{db}"
        if postgres:
            import psycopg
            from urllib.parse import urlsplit

            pg_name = f"bench_sync_worker_{secrets.token_hex(4)}"
            pg_admin = psycopg.connect(postgres, autocommit=True)
            pg_admin.execute(f'CREATE DATABASE "{pg_name}"')
            database_url = urlsplit(postgres)._replace(path=f"/{pg_name}").geturl()
        env = {**base_env, "DATABASE_URL": database_url, "SMARTERPROCTORING_BASE_URL": url,
               "PROCTOREXAM_BASE_URL": url}
        subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        log = var / f"worker-{n}.log"
        worker = subprocess.Popen([PY, "-m", "celery", "-A", "proctordash", "worker", "--pool", "solo",
                                   "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
                                   "-n", f"bench-{n}@%h"], cwd=ROOT, env=env, stdout=open(log, "wb"),
                                  stderr=subprocess.STDOUT)
        try:
            time.sleep(1)
            from proctordash.celery import app

            deadline = time.monotonic() + 60
            while not app.control.ping(destination=[f"bench-{n}@{socket.gethostname()}"], timeout=0.5):
                if worker.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"worker did not start; see {log}")
            idle = vm_hwm_mb(worker.pid)
            started = time.perf_counter()
            result = refresh_appointments_task.apply_async(kwargs={})
            run_id = result.get(timeout=1800)
            del result  # unsubscribes from its result channel now, while Redis is up (at exit: 20 s of retries)
            elapsed = time.perf_counter() - started
            peak = vm_hwm_mb(worker.pid)
        finally:
            worker.terminate()
            worker.wait(30)
        query = "select outcome, records_seen from monitoring_syncrun where id=%s"
        if postgres:
            import psycopg

            with psycopg.connect(database_url) as con:
                outcome, seen = con.execute(query, (run_id,)).fetchone()
        else:
            import sqlite3

            con = sqlite3.connect(db)
            outcome, seen = con.execute(query.replace("%s", "?"), (run_id,)).fetchone()
            con.close()
        return {"n": n, "idle_mb": idle, "peak_mb": peak, "seconds": elapsed, "outcome": outcome, "seen": seen}
    finally:
        sandbox.terminate()
        sandbox.wait(30)
        if pg_admin is not None:
            pg_admin.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
            pg_admin.close()


class CpuAccount:
    """CPU seconds spent between start() and stop() by this process, the sandbox and (local) PostgreSQL's server
    processes: where a run's work went, and the wall time it needs at least on this machine's cores."""

    def __init__(self, sandbox_pid: int, *, postgres: bool):
        import psutil

        self.psutil = psutil
        self.sandbox = psutil.Process(sandbox_pid)
        self.postgres = postgres
        self.before: dict[str, float] = {}

    def _postgres_seconds(self) -> float:
        total = 0.0
        for proc in self.psutil.process_iter(["name"]):
            if proc.info["name"] and proc.info["name"].startswith("postgres"):
                try:
                    t = proc.cpu_times()
                    total += t.user + t.system
                except self.psutil.Error:
                    continue
        return total

    def _now(self) -> dict[str, float]:
        sandbox = 0.0
        for proc in [self.sandbox, *self.sandbox.children(recursive=True)]:
            try:
                t = proc.cpu_times()
                sandbox += t.user + t.system
            except self.psutil.Error:
                continue
        now = {"this process": time.process_time(), "sandbox": sandbox}
        if self.postgres:
            now["PostgreSQL server"] = self._postgres_seconds()
        return now

    def start(self) -> None:
        self.before = self._now()

    def stop(self) -> dict[str, float]:
        return {name: value - self.before[name] for name, value in self._now().items()}


def set_latency(url: str, latency: float) -> None:
    import requests

    if latency:
        requests.post(f"{url}/_sandbox/faults", json={"appointments": {"latency": latency}},
                      timeout=10).raise_for_status()


def bare_fetch(url: str, size: int) -> tuple[float, int]:
    """Every page, one after another, with a plain keep-alive session: HTTP and JSON decoding, nothing else."""
    import orjson
    import requests
    from django.conf import settings

    path = f"{url}/v1/installs/{settings.SMARTERPROCTORING_INSTALL_SID}/reports/appointments"
    session = requests.Session()
    session.headers["token"] = settings.SMARTERPROCTORING_TOKEN
    started, offset, pages = time.perf_counter(), 0, 0
    while True:
        body = orjson.loads(session.get(path, params={"offset": offset, "limit": size}, timeout=120).content)
        pages += 1
        offset += len(body["results"])
        if body.get("next") is None:
            break
    session.close()
    return time.perf_counter() - started, pages


def empty_cache() -> None:
    from django.db import connection

    from proctordash.appointments.models import (Appointment, AppointmentCountsState, AppointmentDayCount, Course,
                                                 CourseOffering, EnrollmentExamSession, Exam)
    from proctordash.sync.models import SyncRun, UpstreamState

    for model in (Appointment, AppointmentDayCount, AppointmentCountsState, Course, CourseOffering, Exam,
                  EnrollmentExamSession, SyncRun, UpstreamState):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f'TRUNCATE "{model._meta.db_table}"')
        else:
            model.objects.all().delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appointments", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-scaling", action="store_true", help="no full sync of N/2 for the scaling ratio")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="SYNC_FETCH_CONCURRENCY for the sync (default: the setting's default, 4)")
    parser.add_argument("--profile", action="store_true",
                        help="only profile one full sync into the empty cache (cProfile, in this process; the sandbox "
                             "runs in its own) and print where it spends its time")
    parser.add_argument("--postgres", metavar="URL",
                        help="run on PostgreSQL: throw-away databases are created beside the one in URL (e.g. "
                             "postgres://postgres@127.0.0.1:5432/postgres) and dropped at the end")
    parser.add_argument("--latency", type=float, default=0.0, metavar="SECONDS",
                        help="the sandbox waits this long before answering each appointments page (its fault "
                             "injection), as a remote upstream would; fetch and sync see the same latency")
    args = parser.parse_args()

    var = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    env = {
        # DEBUG off, as a production worker runs (DEBUG keeps every SQL statement in memory)
        "DJANGO_DEBUG": "false", "DJANGO_ALLOWED_HOSTS": "127.0.0.1", "PROCTORDASH_VAR_DIR": str(var), "DJANGO_SECRET_KEY": secrets.token_hex(32),
        "SMARTERPROCTORING_TOKEN": secrets.token_hex(12), "SMARTERPROCTORING_INSTALL_SID": "AI" + secrets.token_hex(16),
        "PROCTOREXAM_TOKEN": secrets.token_hex(12), "PROCTOREXAM_SECRET_KEY": secrets.token_hex(16),
        "UPSTREAM_READ_TIMEOUT": "120", "LOG_LEVEL": "WARNING",
        "SMARTERPROCTORING_BASE_URL": "http://127.0.0.1:9", "PROCTOREXAM_BASE_URL": "http://127.0.0.1:9",
    }
    if args.concurrency:
        env["SYNC_FETCH_CONCURRENCY"] = str(args.concurrency)
    os.environ.update(env)
    for key in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(key, None)
    pg_admin = pg_name = None
    if args.postgres:
        import psycopg
        from urllib.parse import urlsplit

        pg_name = f"bench_sync_{secrets.token_hex(4)}"
        pg_admin = psycopg.connect(args.postgres, autocommit=True)
        pg_admin.execute(f'CREATE DATABASE "{pg_name}"')
        os.environ["DATABASE_URL"] = urlsplit(args.postgres)._replace(path=f"/{pg_name}").geturl()
    from proctordash.core import embedded_redis

    server, sock = embedded_redis.start(var / "redis")
    os.environ["REDIS_URL"] = env["REDIS_URL"] = f"unix://{sock}"
    sandbox = None
    try:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proctordash.settings")
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from proctordash.appointments.models import Appointment
        from proctordash.integrations.smarterproctoring.client import SmarterProctoringClient
        from proctordash.sync.passes import appointments_refresh, fetch_concurrency, page_size

        size = page_size()
        rows = []
        half_s = None
        if not args.skip_scaling and not args.profile:
            # 2. scaling: N/2 first, into the empty cache, with its own sandbox
            half = args.appointments // 2
            sandbox, url = start_sandbox(half, {**os.environ}, var / "sandbox-half.log")
            settings.SMARTERPROCTORING_BASE_URL = settings.PROCTOREXAM_BASE_URL = url
            set_latency(url, args.latency)
            half_cpu = CpuAccount(sandbox.pid, postgres=bool(args.postgres))
            half_cpu.start()
            started = time.perf_counter()
            half_run = appointments_refresh()
            half_s = time.perf_counter() - started
            half_cpus = half_cpu.stop()
            assert half_run.outcome == "success" and half_run.records_created == half, half_run.error_summary
            sandbox.terminate()
            sandbox.wait(30)
            empty_cache()
        sandbox, url = start_sandbox(args.appointments, {**os.environ}, var / "sandbox.log")
        os.environ["SMARTERPROCTORING_BASE_URL"] = os.environ["PROCTOREXAM_BASE_URL"] = url
        env["SMARTERPROCTORING_BASE_URL"] = env["PROCTOREXAM_BASE_URL"] = url
        settings.SMARTERPROCTORING_BASE_URL = settings.PROCTOREXAM_BASE_URL = url
        set_latency(url, args.latency)
        cpu = CpuAccount(sandbox.pid, postgres=bool(args.postgres))
        # 1. sequential fetches: bare, then with the client (it parses every record, as the sync does)
        bare_s, bare_pages = bare_fetch(url, size)
        with SmarterProctoringClient.from_settings() as client:
            cpu.start()
            started = time.perf_counter()
            fetched = pages = 0
            for page in client.iter_appointment_pages(page_size=size):
                fetched += page.count
                pages += 1
            fetch_s, fetch_cpus = time.perf_counter() - started, cpu.stop()
            fetch_cpu = fetch_cpus["this process"]
        if args.profile:
            import cProfile
            import pstats

            for what in ("full sync into the empty cache", "full sync, no change"):
                profiler = cProfile.Profile()
                started = time.perf_counter()
                profiler.runcall(appointments_refresh)
                print(f"fetch only {fetch_s:.1f} s; profiled {what} {time.perf_counter() - started:.1f} s")
                pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
            return
        # 1. full sync into the empty cache
        cpu.start()
        started = time.perf_counter()
        full = appointments_refresh()
        sync_s, sync_cpus = time.perf_counter() - started, cpu.stop()
        sync_cpu = sync_cpus["this process"]
        assert full.outcome == "success" and Appointment.objects.count() == fetched, (full.error_summary, fetched)
        # 3. again with no upstream change (the sandbox's clock moves a few appointments along in real time)
        started, again_cpu = time.perf_counter(), time.process_time()
        again = appointments_refresh()
        again_s, again_cpu = time.perf_counter() - started, time.process_time() - again_cpu
        incremental = appointments_refresh(incremental=True)
        cores = os.cpu_count() or 1
        rows.append(("bare sequential fetch (HTTP + JSON, all pages)", f"{bare_s:.1f} s", f"{bare_pages} requests"))
        rows.append(("sequential fetch with the client (parses every record)", f"{fetch_s:.1f} s",
                     f"{pages} requests, {fetched} records; CPU of this process {fetch_cpu:.1f} s"))
        rows.append((f"full sync, empty cache ({fetch_concurrency()} fetchers, 1 writer)", f"{sync_s:.1f} s",
                     f"{full.requests_made} requests, {full.records_created} rows created; "
                     f"**{sync_s / fetch_s:.2f}× client fetch**, {sync_s / bare_s:.2f}× bare fetch; "
                     f"CPU of this process {sync_cpu:.1f} s"))
        total = sum(sync_cpus.values())
        parts = ", ".join(f"{name} {value:.1f} s" for name, value in sync_cpus.items())
        rows.append(("floor of that sync on this machine", f"{max(total / cores, sync_cpu):.1f} s",
                     f"CPU {parts}; total {total:.1f} s ÷ {cores} cores = {total / cores:.1f} s "
                     f"({total / cores / fetch_s:.2f}× client fetch); this process alone {sync_cpu:.1f} s on one core "
                     f"(one GIL) = {sync_cpu / fetch_s:.2f}× client fetch"))
        total = sum(fetch_cpus.values())
        parts = ", ".join(f"{name} {value:.1f} s" for name, value in fetch_cpus.items())
        rows.append(("CPU during the client fetch", "", f"{parts}; total {total:.1f} s"))
        if half_s is not None:
            rows.append((f"full sync of {args.appointments // 2:,} (empty cache)", f"{half_s:.1f} s",
                         f"**{sync_s / half_s:.2f}×** from {args.appointments // 2:,} to {args.appointments:,} "
                         f"(target ≤ 2.1); CPU "
                         + ", ".join(f"{name} {value:.1f} s" for name, value in half_cpus.items())))
        rows.append(("full sync, no change", f"{again_s:.1f} s",
                     f"{again.requests_made} requests, rows written {again.records_created + again.records_updated + again.records_removed}; "
                     f"{again_s / fetch_s:.2f}× client fetch; CPU of this process {again_cpu:.1f} s"))
        rows.append(("incremental sync, no change", "",
                     f"{incremental.requests_made} requests ({incremental.records_seen} records in the window), "
                     f"**rows written {incremental.records_created + incremental.records_updated + incremental.records_removed}**"))
        sandbox.terminate()
        sandbox.wait(30)
        sandbox = None
        if not args.skip_memory:
            small = worker_peak(args.small, dict(os.environ), var, postgres=args.postgres)
            big = worker_peak(args.appointments, dict(os.environ), var, postgres=args.postgres)
            for m in (small, big):
                rows.append((f"worker peak RSS, full sync of {m['n']:,}", f"{m['seconds']:.1f} s",
                             f"{m['peak_mb']:.0f} MB (idle {m['idle_mb']:.0f} MB), {m['outcome']}, {m['seen']} seen"))
            rows.append(("peak difference", "", f"**{big['peak_mb'] - small['peak_mb']:.0f} MB** (target ≤ 50)"))
        print(f"\npage size {size}, {fetch_concurrency()} fetchers, {settings.DATABASES['default']['ENGINE']}, "
              f"sandbox latency per appointments page {args.latency:g} s\n")
        print("| measurement | time | figures |\n| --- | --- | --- |")
        for row in rows:
            print("| " + " | ".join(row) + " |")
    finally:
        if sandbox is not None:
            sandbox.terminate()
        embedded_redis.stop(server, var / "redis")
        if pg_admin is not None:
            from django.db import connections

            connections.close_all()
            pg_admin.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
            pg_admin.close()


if __name__ == "__main__":
    main()
