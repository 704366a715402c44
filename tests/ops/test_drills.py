"""Failure drills on the production configuration (gunicorn + Celery worker + beat, DEBUG off; tests/ops/stack.py).

Each drill breaks one part while the processes run, checks what users see, repairs it, and asserts that nothing was
lost: every appointment cached before the drill is still cached and live, and the cache holds exactly the sandbox's
records after the next refresh. The drills (docs/deploy.md, "Failure drills"):

1. slow upstream — the sandbox answers every endpoint after several seconds: pages stay fast (they never wait on it).
2. Redis stops — pages serve cached data and say refreshes are paused; /healthz 503 names Redis; when Redis is
   back (empty), worker and beat reconnect by themselves and the next beat-triggered refreshes succeed.
3. PostgreSQL stops — a plain, styled error page (no traceback), /healthz 503 names the database; after PostgreSQL
   returns, the same gunicorn processes serve again (no restart), sessions survive, the worker refreshes again.
4. a worker killed mid-sync — tests/sync/test_sync_sigkill.py (a real worker SIGKILLed in the middle of a full
   pass; a new worker's next run completes and the cache equals the upstream); not repeated here.

Redis and PostgreSQL are private to this module (started and stopped here), never the machine's shared servers; when
no private PostgreSQL can be started, the database drill is skipped and the others run on DATABASE_URL's server.
"""

from __future__ import annotations

import os
import re
import time

import pytest
import requests

from proctordash.sync.freshness import PAUSE_PROBE_EVERY

from .stack import PrivatePostgres, Stack, StackUnavailable, wait_until

pytestmark = [pytest.mark.slow]

BEAT = {  # beat's intervals at the settings' minimums, so recovery is seen within seconds
    "SYNC_APPOINTMENTS_FULL_INTERVAL": "10",
    "SYNC_APPOINTMENTS_INCREMENTAL_INTERVAL": "5",
    "SYNC_PROCTOREXAM_INTERVAL": "5",
    "UPSTREAM_READ_TIMEOUT": "20",  # above the slow drill's injected latency: slow is not down
}
LATENCY = 4.0  # seconds the slow-upstream drill adds to every sandbox endpoint
FAST_SHARE = 0.25  # a page must answer within this share of LATENCY (a ratio, not a fixed timing)


@pytest.fixture(scope="module")
def stack():
    try:
        s = Stack(database="private", redis="private", env=BEAT)
        try:
            s.start()
        except StackUnavailable:
            if not os.environ.get("DATABASE_URL"):
                raise
            s = Stack(redis="private", env=BEAT).start()
    except StackUnavailable as exc:
        pytest.skip(f"production stack unavailable: {exc}")
    try:
        s.staff_add("cora", "coordinator")
        wait_until(lambda: s.successful_runs("appointments_full") and s.successful_runs("proctorexam"),
                   timeout=90, interval=0.5, what="the first full appointments pass and ProctorExam pass")
    except BaseException:
        s.stop(check=False)
        raise
    yield s
    survivors = s.stop(check=False)
    assert not survivors, f"processes left behind: {survivors}"


@pytest.fixture(scope="module")
def client(stack):
    return stack.client("cora")


@pytest.fixture(scope="module")
def pages(stack):
    """The cache-only pages a drill loads: list, filter, detail, monitor, readiness, health, exams, lookup."""
    sid = stack.sql("SELECT sid FROM appointments_appointment WHERE removed_at IS NULL ORDER BY sid LIMIT 1")[0][0]
    return ["/appointments/", "/appointments/?status=Scheduled&sort=-appointmentDate", f"/appointments/{sid}/",
            "/monitor/", "/monitor/readiness/", "/health/", "/appointments/learners/?q=a"]


def live_sids(stack) -> set[str]:
    return {row[0] for row in stack.sql("SELECT sid FROM appointments_appointment WHERE removed_at IS NULL")}


def db_now(stack):
    return stack.sql("SELECT now()")[0][0]


def assert_nothing_lost(stack, before: set[str]) -> None:
    """Every appointment cached before is still cached and live; after a full pass the cache is the sandbox's."""
    since = db_now(stack)
    wait_until(lambda: stack.successful_runs("appointments_full", since=since), timeout=90, interval=0.5,
               what="a full appointments pass after the drill")
    after = live_sids(stack)
    assert before <= after, f"lost {len(before - after)} appointments"
    assert len(after) == stack.appointments


class LogMark:
    """The part of a process's log written since the mark."""

    def __init__(self, stack, name: str = "web"):
        self.process = stack.processes[name]
        self.offset = len(self.process.log_text())

    def text(self) -> str:
        return self.process.log_text()[self.offset:]


def row_sids(html: str) -> set[str]:
    return set(re.findall(r'href="/appointments/(ES[0-9a-f]{32})/"', html))


# --- 1. slow upstream ----------------------------------------------------------------------------------------------
def test_slow_upstream_pages_stay_fast(stack, client, pages):
    before = live_sids(stack)
    for path in pages:  # warm every gunicorn worker's templates and connections
        for _ in range(2):
            assert client.get(path).status_code == 200, path
    baseline = {path: _timed(client, path) for path in pages}

    stack.sandbox_control("POST", "faults", json={"*": {"latency": LATENCY}})
    try:
        # the sandbox really is slow now (latency comes before any check, so an unauthenticated call shows it)
        started = time.monotonic()
        requests.get(f"{stack.sandbox_url}/api/v3/exams", timeout=30)
        assert time.monotonic() - started >= LATENCY
        # ... and refreshes are in flight against it while the pages are loaded
        requests_before = _sandbox_requests(stack)
        token = client.csrf_token("/health/")
        client.post("/health/refresh/", data={"kind": "appointments_full", "csrfmiddlewaretoken": token})
        slow = {path: max(_timed(client, path) for _ in range(3)) for path in pages}
        wait_until(lambda: _sandbox_requests(stack) > requests_before, timeout=LATENCY * 3,
                   what="a refresh calling the slow sandbox")
    finally:
        stack.sandbox_control("POST", "faults", json={})
    ratios = {path: round(seconds / LATENCY, 3) for path, seconds in slow.items()}
    assert max(ratios.values()) < FAST_SHARE, f"page time / injected latency: {ratios} (baseline {baseline})"
    assert_nothing_lost(stack, before)


def _timed(client, path: str) -> float:
    started = time.monotonic()
    answer = client.get(path)
    elapsed = time.monotonic() - started
    assert answer.status_code == 200, f"{path}: {answer.status_code}"
    return elapsed


def _sandbox_requests(stack) -> int:
    return sum(stack.sandbox_control("GET", "health").json()["requests"].values())


# --- 2. Redis stops ------------------------------------------------------------------------------------------------
def test_redis_stops_pages_serve_cache_and_refreshes_resume(stack, client, pages):
    if not hasattr(stack.redis, "process"):
        pytest.skip("Redis is not private to this stack")
    before = live_sids(stack)
    listed = row_sids(client.get("/appointments/").text)
    assert listed
    mark = LogMark(stack)
    worker_log = LogMark(stack, "worker")
    monitor = client.get("/monitor/").text  # a support desk's open monitor, polling
    have = ",".join(f"{i}:{v}" for i, v in re.findall(r'<[^>]*\bid="([^"]+)"[^>]*\bdata-v="([^"]+)"', monitor))
    since = re.search(r'name="since" value="([^"]+)"', monitor).group(1)

    # Redis goes away while a refresh is in flight, so the worker holds an unacknowledged message (acks_late) when
    # its broker connection breaks: the hard case for the reconnect (Celery 5.7.0's worker died of it).
    stack.sandbox_control("POST", "faults", json={"*": {"latency": LATENCY}})
    requests_before = _sandbox_requests(stack)
    token = client.csrf_token("/health/")
    client.post("/health/refresh/", data={"kind": "proctorexam", "csrfmiddlewaretoken": token})
    wait_until(lambda: _sandbox_requests(stack) > requests_before, timeout=LATENCY * 3,
               what="a refresh calling the slow sandbox")
    stack.redis.stop()
    stack.sandbox_control("POST", "faults", json={})
    try:
        # each gunicorn worker trusts its last Redis probe for PAUSE_PROBE_EVERY seconds; which worker answers a
        # request is up to the kernel, so wait that long rather than for a few answers that may all come from one
        time.sleep(PAUSE_PROBE_EVERY + 0.5)
        for path in pages:
            answer = client.get(path)
            assert answer.status_code == 200, f"{path}: {answer.status_code}"
            assert "Refreshes are paused" in answer.text and "Redis unreachable" in answer.text, path
        assert row_sids(client.get("/appointments/").text) == listed  # the same cached rows
        # the open monitor's next poll swaps in the banner that says so
        poll = client.post("/monitor/poll/", data={"have": have, "since": since,
                                                   "csrfmiddlewaretoken": client.csrf_token("/monitor/")},
                           headers={"HX-Request": "true"})
        assert poll.status_code == 200 and 'id="monitor-freshness"' in poll.text
        assert "Refreshes are paused" in poll.text
        probe = requests.get(stack.base_url + "/healthz", timeout=10)  # a load balancer: plain HTTP, no cookie
        assert probe.status_code == 503
        assert probe.json()["checks"]["redis"]["ok"] is False
        assert any("Redis" in reason for reason in probe.json()["reasons"])
        # asking for a refresh says it could not be queued, in place, not a server error
        token = client.csrf_token("/health/")
        refresh = client.post("/health/refresh/", data={"kind": "proctorexam", "csrfmiddlewaretoken": token},
                              headers={"HX-Request": "true"})
        assert refresh.status_code == 200 and "could not be queued" in refresh.text
    finally:
        stack.redis.start()  # the same port, empty: what a Redis without persistence is after a restart
    back = db_now(stack)

    # worker and beat reconnect by themselves: beat's next ticks are refreshed by the worker
    wait_until(lambda: stack.successful_runs("proctorexam", since=back)
               and stack.successful_runs("appointments_incremental", since=back),
               timeout=60, interval=0.5, what="beat-triggered refreshes after Redis returned")
    assert stack.processes["worker"].alive and stack.processes["beat"].alive
    assert "Unrecoverable error" not in worker_log.text()
    assert requests.get(stack.base_url + "/healthz", timeout=10).status_code == 200
    time.sleep(PAUSE_PROBE_EVERY + 0.5)
    for path in pages:
        assert "Refreshes are paused" not in client.get(path).text, path
    assert not re.search(r'" 5\d\d ', mark.text().replace('"GET /healthz HTTP/1.1" 503', "")), "a page failed"
    assert_nothing_lost(stack, before)


# --- 3. PostgreSQL stops -------------------------------------------------------------------------------------------
def test_postgres_stops_plain_error_page_and_recovery_without_restart(stack, client):
    if not isinstance(stack.db, PrivatePostgres):
        pytest.skip("no private PostgreSQL on this machine: the shared server is never stopped")
    before = live_sids(stack)
    gunicorn = stack.processes["web"]
    web_pids = {gunicorn.popen.pid, *(child.pid for child in _children(gunicorn.popen.pid))}
    assert client.get("/appointments/").status_code == 200

    stack.db.stop("fast")
    try:
        for path in ("/appointments/", "/monitor/", "/login/"):
            answer = client.get(path)
            assert answer.status_code in (500, 503), f"{path}: {answer.status_code}"
            assert "Something went wrong on our side" in answer.text, path
            assert 'rel="stylesheet" href="/static/css/proctordash.css"' in answer.text
            for leak in ("Traceback", "OperationalError", "psycopg", "connection", str(stack.db.port), "{#", "{%"):
                assert leak not in answer.text, f"{path} shows {leak!r}"
            assert client.get("/static/css/proctordash.css").status_code == 200  # the error page's style loads
        probe = requests.get(stack.base_url + "/healthz", timeout=10)  # a load balancer: plain HTTP, no cookie
        assert probe.status_code == 503
        assert any("database" in reason for reason in probe.json()["reasons"])
        signed_in = client.get("/healthz")  # an operator's browser, with its session cookie
        assert signed_in.status_code == 503, signed_in.text[:300]
        assert any("database" in reason for reason in signed_in.json()["reasons"])
    finally:
        stack.db.start()
    back = db_now(stack)

    # the same gunicorn processes serve again (persistent connections are health-checked), the session survived
    wait_until(lambda: client.get("/appointments/").status_code == 200, timeout=20, interval=0.5,
               what="pages to serve again")
    for _ in range(6):  # every worker process, not only the first to answer
        answer = client.get("/appointments/")
        assert answer.status_code == 200 and row_sids(answer.text), "signed in, with rows"
    assert {gunicorn.popen.pid, *(child.pid for child in _children(gunicorn.popen.pid))} == web_pids
    assert requests.get(stack.base_url + "/healthz", timeout=10).status_code == 200
    # the worker's next refreshes succeed (Celery's Django fixup drops the dead connections between tasks)
    wait_until(lambda: stack.successful_runs("proctorexam", since=back), timeout=60, interval=0.5,
               what="a ProctorExam refresh after PostgreSQL returned")
    assert stack.processes["worker"].alive and stack.processes["beat"].alive
    assert_nothing_lost(stack, before)


def _children(pid: int) -> list:
    import psutil

    return psutil.Process(pid).children(recursive=True)
