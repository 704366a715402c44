#!/usr/bin/env python
"""Sync figures (issue 6), one run side by side, loopback only, bounded:

1. a full sync of N appointments (default 100,000) from the sandbox into an empty SQLite cache, against the time of
   just fetching the same pages with the client (target: sync ≤ 1.5 × fetch);
2. a second full pass and an incremental pass with no upstream change: upstream requests made, rows written
   (target: 0 rows);
3. peak memory (VmHWM) of a real Celery worker (`--pool solo`, so the task runs in the measured process) during a
   full sync of N and of N/10 appointments (target: within 50 MB of each other).

It also accounts for the CPU each run costs: this process, the sandbox and (with --postgres) PostgreSQL's server
processes, so a ratio can be read against what two shared cores can do at best. `--latency S` makes the sandbox
wait S seconds before each appointments page, as a remote upstream would.

Usage: .venv/bin/python benchmarks/bench_sync.py [--appointments 100000] [--small 10000] [--skip-memory]
       [--postgres URL] [--latency SECONDS] [--profile]
Everything lives in a temporary directory (SQLite, embedded Redis); nothing touches var/ or a shared database.
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


def worker_peak(n: int, base_env: dict, var: Path) -> dict:
    """Peak RSS of a solo-pool Celery worker running one full appointments sync of n records."""
    from proctordash.sync.tasks import refresh_appointments_task

    sandbox, url = start_sandbox(n, base_env, var / f"sandbox-{n}.log")
    try:
        db = var / f"worker-{n}.sqlite3"
        env = {**base_env, "DATABASE_URL": f"sqlite:///{db}", "SMARTERPROCTORING_BASE_URL": url,
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
        import sqlite3

        con = sqlite3.connect(db)
        outcome, seen = con.execute("select outcome, records_seen from monitoring_syncrun where id=?",
                                    (run_id,)).fetchone()
        con.close()
        return {"n": n, "idle_mb": idle, "peak_mb": peak, "seconds": elapsed, "outcome": outcome, "seen": seen}
    finally:
        sandbox.terminate()
        sandbox.wait(30)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appointments", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="only profile one full sync into the empty cache (cProfile, in this process; the sandbox "
                             "runs in its own) and print where it spends its time")
    parser.add_argument("--postgres", metavar="URL",
                        help="also the main comparison on PostgreSQL: a throw-away database is created beside the one "
                             "in URL (e.g. postgres://postgres@127.0.0.1:5432/postgres) and dropped at the end")
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
        sandbox, url = start_sandbox(args.appointments, {**os.environ}, var / "sandbox.log")
        os.environ["SMARTERPROCTORING_BASE_URL"] = os.environ["PROCTOREXAM_BASE_URL"] = url
        env["SMARTERPROCTORING_BASE_URL"] = env["PROCTOREXAM_BASE_URL"] = url
        if args.latency:
            import requests

            requests.post(f"{url}/_sandbox/faults", json={"appointments": {"latency": args.latency}},
                          timeout=10).raise_for_status()
        cpu = CpuAccount(sandbox.pid, postgres=bool(args.postgres))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proctordash.settings")
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from proctordash.appointments.models import Appointment
        from proctordash.sync.passes import appointments_refresh, page_size
        from proctordash.integrations.smarterproctoring.client import SmarterProctoringClient

        size = page_size()
        rows = []
        # 1. fetch only (the client parses every record, as the sync does)
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

            from proctordash.sync import engine as core_sync

            # no prefetch thread while profiling: time spent waiting for the GIL would be charged to whatever
            # released it (sha256, SQLite), hiding the real costs
            core_sync.prefetched = lambda iterator, depth=1: iterator
            for what in ("full sync into the empty cache", "full sync, no change"):
                profiler = cProfile.Profile()
                started = time.perf_counter()
                profiler.runcall(appointments_refresh)
                print(f"fetch only {fetch_s:.1f} s; profiled {what} {time.perf_counter() - started:.1f} s")
                pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
            return
        # 2. full sync into the empty cache
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
        rows.append(("fetch only (client, all pages)", f"{fetch_s:.1f} s", f"{pages} requests, {fetched} records; CPU of this process {fetch_cpu:.1f} s"))
        rows.append(("full sync, empty cache", f"{sync_s:.1f} s",
                     f"{full.requests_made} requests, {full.records_created} rows created; "
                     f"**{sync_s / fetch_s:.2f}× fetch** (target ≤ 1.5); CPU of this process {sync_cpu:.1f} s"))
        rows.append(("full sync, no change", f"{again_s:.1f} s",
                     f"{again.requests_made} requests, rows written {again.records_created + again.records_updated + again.records_removed}; "
                     f"{again_s / fetch_s:.2f}× fetch; CPU of this process {again_cpu:.1f} s"))
        cores = os.cpu_count() or 1
        for what, seconds, cpus in (("fetch only", fetch_s, fetch_cpus), ("full sync, empty cache", sync_s, sync_cpus)):
            total = sum(cpus.values())
            parts = ", ".join(f"{name} {value:.1f} s" for name, value in cpus.items())
            rows.append((f"CPU during {what}", "",
                         f"{parts}; total {total:.1f} s on {cores} cores = at least {total / cores:.1f} s of wall "
                         f"time ({total / cores / fetch_s:.2f}× fetch) however well the work overlaps"))
        rows.append(("incremental sync, no change", "",
                     f"{incremental.requests_made} requests ({incremental.records_seen} records in the window), "
                     f"rows written {incremental.records_created + incremental.records_updated + incremental.records_removed}"))
        sandbox.terminate()
        sandbox.wait(30)
        sandbox = None
        if not args.skip_memory:
            small = worker_peak(args.small, dict(os.environ), var)
            big = worker_peak(args.appointments, dict(os.environ), var)
            for m in (small, big):
                rows.append((f"worker peak RSS, full sync of {m['n']:,}", f"{m['seconds']:.1f} s",
                             f"{m['peak_mb']:.0f} MB (idle {m['idle_mb']:.0f} MB), {m['outcome']}, {m['seen']} seen"))
            rows.append(("peak difference", "", f"**{big['peak_mb'] - small['peak_mb']:.0f} MB** (target ≤ 50)"))
        print(f"\npage size {size}, {settings.DATABASES['default']['ENGINE']}, "
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
            pg_admin.execute(f'DROP DATABASE IF EXISTS "{pg_name}"')
            pg_admin.close()


if __name__ == "__main__":
    main()
