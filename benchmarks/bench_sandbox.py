"""Appointments per second the sandbox serves when a client pages through 100,000 at limit=500 (loopback only).

Usage: .venv/bin/python benchmarks/bench_sandbox.py [--appointments 100000] [--limit 500] [--rounds 3]

Starts `manage.py runsandbox` on a free loopback port with generated credentials, times its start-up, then pages
through the whole report with one keep-alive session (like the sync does) `rounds` times after one cold pass
(the first pass also serialises every record once). Prints the median of the full client-side passes
(requests + JSON parsing, as the sync does) and of raw passes (http.client, bodies read but not parsed), which is the
sandbox's own share.
"""

from __future__ import annotations

import argparse
import http.client
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--appointments", type=int, default=100_000)
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    port = free_port()
    token, install = secrets.token_hex(12), "AI" + secrets.token_hex(16)
    env = {**os.environ, "DJANGO_DEBUG": "true", "SMARTERPROCTORING_TOKEN": token,
           "SMARTERPROCTORING_INSTALL_SID": install, "PROCTOREXAM_TOKEN": secrets.token_hex(12),
           "PROCTOREXAM_SECRET_KEY": secrets.token_hex(16), "PROCTORDASH_VAR_DIR": tempfile.mkdtemp()}
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "manage.py", "runsandbox", "--host", "127.0.0.1", "--port",
                                str(port), "--seed", "42", "--appointments", str(args.appointments)],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if requests.get(f"{base}/_sandbox/health", timeout=5).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.05)
            if process.poll() is not None or time.monotonic() - started > 300:
                raise SystemExit("sandbox did not start")
        startup = time.monotonic() - started
        session = requests.Session()
        session.headers["token"] = token

        def page_through() -> tuple[float, int]:
            url = f"{base}/v1/installs/{install}/reports/appointments?limit={args.limit}"
            count, t0 = 0, time.perf_counter()
            while url:
                body = session.get(url, timeout=60).json()
                count += body["count"]
                url = body["next"]
            return time.perf_counter() - t0, count

        def page_through_raw() -> tuple[float, int]:
            # The sandbox's own share: the same requests over http.client, bodies read but not parsed.
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            path = f"/v1/installs/{install}/reports/appointments?limit={args.limit}&offset="
            t0 = time.perf_counter()
            for offset in range(0, args.appointments, args.limit):
                connection.request("GET", f"{path}{offset}", headers={"token": token})
                response = connection.getresponse()
                assert response.status == 200
                response.read()
            connection.close()
            return time.perf_counter() - t0, args.appointments

        cold_seconds, total = page_through()
        rates, raw_rates = [], []
        for _ in range(args.rounds):
            seconds, count = page_through()
            assert count == total == args.appointments, (count, total)
            rates.append(count / seconds)
            seconds, count = page_through_raw()
            raw_rates.append(count / seconds)
        print(f"appointments: {args.appointments}, limit: {args.limit}")
        print(f"start-up (process start to first health answer): {startup:.1f} s")
        print(f"cold pass (serialises every record once): {total / cold_seconds:,.0f} appointments/s")
        print(f"warm passes: {', '.join(f'{r:,.0f}' for r in rates)} appointments/s; "
              f"median {statistics.median(rates):,.0f} appointments/s (requests + JSON parsing, like a client)")
        print(f"server share: {', '.join(f'{r:,.0f}' for r in raw_rates)} appointments/s; "
              f"median {statistics.median(raw_rates):,.0f} appointments/s (bodies read, not parsed)")
    finally:
        process.terminate()
        process.wait(15)


if __name__ == "__main__":
    main()
