"""Nonces: unique across several processes drawing at once, monotonic, and safe across a lost Redis key."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import redis

from proctordash.integrations.proctorexam import signing
from proctordash.integrations.proctorexam.signing import NonceSource, NonceUnavailable

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def fresh_counter():
    """Each test starts and ends with no shared counter: a test that draws nonces on a clock a day ahead must not
    leave the counter there for the next one (CI's order put it before the lost-counter test, which then failed)."""
    client = signing._default_redis()
    client.delete(signing._key())
    yield
    client.delete(signing._key())

WORKER = textwrap.dedent("""
    import os, sys, time
    import django
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proctordash.settings")
    django.setup()
    from proctordash.integrations.proctorexam.signing import NonceSource, signed_params
    source = NonceSource()
    start, count = float(sys.argv[1]), int(sys.argv[2])
    while time.time() < start:  # all processes begin together
        time.sleep(0.001)
    nonces = [signed_params({"page": 1}, secret_key="k", nonce=source())["nonce"] for _ in range(count)]
    print("\\n".join(nonces))
""")


@pytest.mark.slow
def test_nonces_are_unique_across_processes_signing_at_once(tmp_path):
    processes, per_process = 4, 1500
    script = tmp_path / "draw.py"
    script.write_text(WORKER)
    start = time.time() + 4  # Django start-up takes a second or two on this machine
    floor = int(time.time() * 1000) * 1000
    workers = [subprocess.Popen([sys.executable, str(script), str(start), str(per_process)], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(processes)]
    outputs = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        outputs.append([int(line) for line in out.split()])
    everything = [n for nonces in outputs for n in nonces]
    assert len(everything) == processes * per_process
    assert len(set(everything)) == len(everything), "a nonce was issued twice"
    for nonces in outputs:
        assert nonces == sorted(nonces) and len(set(nonces)) == len(nonces)  # strictly increasing per process
    assert min(everything) >= floor  # never below the time floor
    assert max(everything) < 2**53  # survives a float round trip upstream


def test_a_lost_counter_restarts_above_everything_issued(settings):
    source = NonceSource()
    first = [source() for _ in range(50)]
    client = signing._default_redis()
    client.delete(signing._key())  # Redis restarted empty, or the key was flushed
    time.sleep(0.002)
    after = source()
    assert after > max(first)
    assert first == sorted(first) and len(set(first)) == 50


def test_the_time_floor_lifts_the_counter():
    now = [time.time() + 86400.0]  # a clock a day ahead of every nonce drawn so far
    source = NonceSource(clock=lambda: now[0])
    a = source()
    assert a == int(now[0] * 1000) * 1000
    now[0] += 3600
    b = source()
    assert b == int(now[0] * 1000) * 1000 > a
    assert source() == b + 1  # within one millisecond the counter takes over


def test_no_redis_no_nonce():
    dead = NonceSource(lambda: redis.Redis(unix_socket_path="/nonexistent/redis.sock", socket_connect_timeout=0.5))
    with pytest.raises(NonceUnavailable):
        dead()
