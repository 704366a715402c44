"""The SmarterProctoring client's overhead per page against a bare `requests` GET of the same pages (loopback only).

Usage: .venv/bin/python benchmarks/bench_client.py [--appointments 20000] [--limit 500] [--rounds 5]

Starts an embedded Redis (the client records every call there) and `manage.py runsandbox` on a free loopback port
with generated credentials, makes one warm-up pass, then alternates, `rounds` times:
  bare    one keep-alive `requests.Session`, `get(url, params=offset/limit, headers=token)` + `.json()` per page
  client  `SmarterProctoringClient.list_appointments(page_size=limit)`: argument checks, retries/timeouts adapter,
          envelope + pydantic records, call recording in Redis
  bare-orjson  the same GET, body decoded with `orjson.loads` (the decoder the client uses): the stricter baseline,
          so the client's own work (checks, records, recording) is visible apart from the faster decoding
and prints the median time per page of each and the client's overhead against both. A last client pass runs under tracemalloc
to show the peak memory of streaming every record (one page at a time).
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--appointments", type=int, default=20_000)
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print where one client pass spends its time")
    args = parser.parse_args()

    port = free_port()
    var = Path(tempfile.mkdtemp(prefix="bench-client-"))
    os.environ.update({
        "DJANGO_DEBUG": "true", "DJANGO_SETTINGS_MODULE": "proctordash.settings", "PROCTORDASH_VAR_DIR": str(var),
        "SMARTERPROCTORING_TOKEN": secrets.token_hex(12), "SMARTERPROCTORING_INSTALL_SID": "AI" + secrets.token_hex(16),
        "PROCTOREXAM_TOKEN": secrets.token_hex(12), "PROCTOREXAM_SECRET_KEY": secrets.token_hex(16),
        "SMARTERPROCTORING_BASE_URL": f"http://127.0.0.1:{port}", "PROCTOREXAM_BASE_URL": f"http://127.0.0.1:{port}",
    })
    from proctordash.core import embedded_redis

    redis_server, socket_path = embedded_redis.start(var / "redis")
    os.environ["REDIS_URL"] = f"unix://{socket_path}"
    process = subprocess.Popen([sys.executable, "manage.py", "runsandbox", "--host", "127.0.0.1", "--port",
                                str(port), "--seed", "42", "--appointments", str(args.appointments)],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import django
        import orjson
        import requests

        django.setup()
        from proctordash.integrations.recording import calls_since
        from proctordash.integrations.smarterproctoring import SmarterProctoringClient
        from proctordash.integrations.smarterproctoring.client import APPOINTMENTS

        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 600
        while True:
            try:
                if requests.get(f"{base}/_sandbox/health", timeout=5).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("sandbox did not start")

        token = os.environ["SMARTERPROCTORING_TOKEN"]
        url = base + APPOINTMENTS.format(installSid=os.environ["SMARTERPROCTORING_INSTALL_SID"])
        session = requests.Session()
        session.headers["token"] = token
        client = SmarterProctoringClient.from_settings()

        def bare() -> int:
            offset, seen = 0, 0
            while True:
                data = session.get(url, params={"offset": offset, "limit": args.limit}, timeout=(5, 30)).json()
                seen += len(data["results"])
                if data["next"] is None:
                    return seen
                offset += len(data["results"])

        def bare_orjson() -> int:
            offset, seen = 0, 0
            while True:
                data = orjson.loads(session.get(url, params={"offset": offset, "limit": args.limit},
                                                timeout=(5, 30)).content)
                seen += len(data["results"])
                if data["next"] is None:
                    return seen
                offset += len(data["results"])

        def with_client() -> int:
            return sum(1 for _ in client.list_appointments(page_size=args.limit))

        assert bare() == with_client() == args.appointments  # warm-up: the sandbox serialises every record once
        pages = -(-args.appointments // args.limit)
        timings: dict[str, list[float]] = {"bare": [], "bare-orjson": [], "client": []}
        for _ in range(args.rounds):
            for name, fn in (("bare", bare), ("bare-orjson", bare_orjson), ("client", with_client)):
                started = time.perf_counter()
                fn()
                timings[name].append((time.perf_counter() - started) / pages * 1000)
        b, c = statistics.median(timings["bare"]), statistics.median(timings["client"])
        bo = statistics.median(timings["bare-orjson"])
        fastest = {name: min(values) for name, values in timings.items()}

        since = __import__("datetime").datetime.now(__import__("datetime").timezone.utc)
        tracemalloc.start()
        streamed = with_client()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        recorded = len(calls_since("smarterproctoring", since))

        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.runcall(with_client)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
        print(f"appointments={args.appointments} limit={args.limit} pages={pages} rounds={args.rounds}")
        print(f"bare requests (get + json): median {b:.2f} ms/page  (all: {', '.join(f'{t:.2f}' for t in timings['bare'])})")
        print(f"client (records + recording): median {c:.2f} ms/page  (all: {', '.join(f'{t:.2f}' for t in timings['client'])})")
        print(f"bare requests (get + orjson.loads): median {bo:.2f} ms/page  (all: {', '.join(f'{t:.2f}' for t in timings['bare-orjson'])})")
        print(f"client overhead per page vs bare (json): {c - b:+.2f} ms = {(c - b) / b * 100:+.1f}% median, "
              f"{(fastest['client'] - fastest['bare']) / fastest['bare'] * 100:+.1f}% fastest vs fastest")
        print(f"client overhead per page vs bare (orjson): {c - bo:+.2f} ms = {(c - bo) / bo * 100:+.1f}% median, "
              f"{(fastest['client'] - fastest['bare-orjson']) / fastest['bare-orjson'] * 100:+.1f}% fastest vs fastest")
        print(f"streaming {streamed} records under tracemalloc: peak {peak / 1024 / 1024:.1f} MiB; calls recorded: {recorded}")
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        embedded_redis.stop(redis_server, var / "redis")


if __name__ == "__main__":
    main()
