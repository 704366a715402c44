"""Logging: one configuration for every process (web, Celery worker and beat, management commands), JSON lines in
production, a request id on every line, and secrets redacted from every line.

- `configure(LOGGING)` is settings.LOGGING_CONFIG, so django.setup() runs it in each process (Celery's own logging
  set-up is switched off in proctordash/celery.py so that workers log the same way).
- Every LogRecord made anywhere in the process — our loggers, urllib3's "Retrying … /v1/installs/AI…/…" lines,
  Celery's, Django's, the test runner's capture — passes through `_make_record`, which redacts its message and
  its traceback at creation, and stamps the current request id. The formatters redact the finished line once more
  (extra fields, anything a handler added).
- Redacted: the values of the configured secrets (tokens, keys, the install SID, the OIDC client secret, the
  metrics token, passwords inside DATABASE_URL/REDIS_URL), any SmarterProctoring install SID, and credentials in
  URLs, query strings and Authorization headers.
- The request id comes from the proxy's `X-Request-ID` (when it looks like one) or is made here
  (RequestIdMiddleware); it travels into Celery tasks as a message header (`request_id`) and to the upstreams as
  `X-Request-ID`, so one user action can be followed through web, worker and upstream call.
"""

from __future__ import annotations

import contextvars
import logging
import logging.config
import re
import traceback
import uuid
from datetime import datetime, timezone
from collections.abc import Iterable
from urllib.parse import urlsplit

from pythonjsonlogger.json import JsonFormatter

REDACTED = "[redacted]"

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("proctordash_request_id", default="")

# Names of settings whose values never appear in a log line.
SECRET_SETTINGS = (
    "SECRET_KEY",
    "SMARTERPROCTORING_TOKEN",
    "SMARTERPROCTORING_INSTALL_SID",
    "PROCTOREXAM_TOKEN",
    "PROCTOREXAM_SECRET_KEY",
    "EMAIL_HOST_PASSWORD",
    "OIDC_RP_CLIENT_SECRET",
    "METRICS_TOKEN",
)
URL_SETTINGS = ("DATABASE_URL", "REDIS_URL")  # only their passwords are secret

PATTERNS = [
    # any SmarterProctoring install SID (the configured one is also redacted by value)
    (re.compile(r"\bAI[0-9a-f]{32}\b"), "AI" + REDACTED),
    # user:password@ in URLs
    (re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)(?P<user>[^/\s:@]*):(?P<pw>[^/\s@]+)@", re.I),
     r"\g<scheme>\g<user>:" + REDACTED + "@"),
    # credentials in query strings, form bodies and "key=value" text
    (re.compile(r"(?P<key>\b(?:token|access_token|id_token|id_token_hint|refresh_token|client_secret|secret|secret_key|password|"
                r"api_key|apikey|signature|code)=)[^&\s'\"]+", re.I), r"\g<key>" + REDACTED),
    # Authorization / token headers as requests and Django print them
    (re.compile(r"(?P<key>['\"]?(?:authorization|token|x-api-key)['\"]?\s*[:=]\s*['\"]?)(?:bearer\s+|basic\s+)?"
                r"[A-Za-z0-9._~+/=-]{8,}", re.I), r"\g<key>" + REDACTED),
]

MIN_SECRET_LENGTH = 6  # shorter configured values (e.g. a blank or "x") would redact ordinary words


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()):
        values = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
        self._values = re.compile("|".join(re.escape(v) for v in values)) if values else None

    def __call__(self, text: str) -> str:
        if not text:
            return text
        for pattern, replacement in PATTERNS:
            text = pattern.sub(replacement, text)
        if self._values is not None:
            text = self._values.sub(REDACTED, text)
        return text


_redactor = Redactor()


def secrets_from_settings(settings) -> list[str]:
    values = [str(getattr(settings, name, "") or "") for name in SECRET_SETTINGS]
    for name in URL_SETTINGS:
        url = str(getattr(settings, name, "") or "")
        try:
            password = urlsplit(url).password
        except ValueError:
            password = None
        if password:
            values.append(password)
    return values


def redact(text: str) -> str:
    """The text with every secret this process knows of replaced by [redacted]."""
    return _redactor(text)


def set_secrets(values: Iterable[str]) -> None:
    global _redactor
    _redactor = Redactor(values)


# --- records -------------------------------------------------------------------------------------------------------
_base_factory = logging.getLogRecordFactory()
_plain = logging.Formatter()


def _make_record(*args, **kwargs) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    record.request_id = request_id_var.get()
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string is the logging module's to report, not ours
        return record
    cleaned = _redactor(message)
    if cleaned != message or record.args:
        record.msg, record.args = cleaned, None
    if record.exc_info and record.exc_info[0] is not None:
        # Tracebacks end with the exception's message (requests puts the full URL there): format and redact now, so
        # every handler, including ones we did not configure, prints the cleaned text.
        record.exc_text = _redactor(_plain.formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = _redactor(record.stack_info)
    return record


class RedactingFormatter(logging.Formatter):
    """Plain text lines (development, the demo), redacted once more as a whole."""

    def format(self, record: logging.LogRecord) -> str:
        if not getattr(record, "request_id", ""):
            record.request_id = "-"
        return _redactor(super().format(record))

    def formatException(self, ei) -> str:  # noqa: N802 - logging's name
        return _redactor(super().formatException(ei))


class RedactingJsonFormatter(JsonFormatter):
    """One JSON object per line (production): time, level, logger, message, request_id, and any extra fields."""

    def formatTime(self, record, datefmt=None) -> str:  # noqa: N802
        # ISO 8601 in UTC with milliseconds: what log stores parse without a format string
        return datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")

    def formatException(self, ei) -> str:  # noqa: N802
        # the record factory already formatted and redacted it; reuse that text
        return _redactor(super().formatException(ei))

    def process_log_record(self, log_data):
        log_data = super().process_log_record(log_data)
        return {key: _clean(value) for key, value in log_data.items()}


def _clean(value):
    if isinstance(value, str):
        return _redactor(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def configure(logging_settings: dict) -> None:
    """settings.LOGGING_CONFIG: dictConfig, then redaction and request ids for every record of this process."""
    from django.conf import settings

    logging.config.dictConfig(logging_settings)
    set_secrets(secrets_from_settings(settings))
    logging.setLogRecordFactory(_make_record)


def logging_settings(*, json_lines: bool, level: str) -> dict:
    """settings.LOGGING: one console handler on the root logger, JSON lines or plain text."""
    if json_lines:
        formatter = {
            "()": "proctordash.core.logs.RedactingJsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "timestamp": False,
        }
    else:
        formatter = {
            "()": "proctordash.core.logs.RedactingFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "default"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "INFO"},
            # Django's own per-request lines duplicate ours (proctordash.request) and print full URLs with queries
            "django.server": {"level": "WARNING"},
        },
    }


# --- request ids ---------------------------------------------------------------------------------------------------
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")


def new_request_id() -> str:
    return uuid.uuid4().hex


def incoming_request_id(header: str | None) -> str:
    """The proxy's X-Request-ID when it looks like an id (never arbitrary text into every log line), else a new one."""
    if header and _REQUEST_ID.fullmatch(header):
        return header
    return new_request_id()


def current_request_id() -> str:
    return request_id_var.get()


# --- Celery: the request id travels with the task ------------------------------------------------------------------
def celery_before_publish(headers=None, **kwargs) -> None:
    request_id = request_id_var.get()
    if headers is not None and request_id and "request_id" not in headers:
        headers["request_id"] = request_id


_task_tokens: dict[str, contextvars.Token] = {}


def celery_task_prerun(task_id=None, task=None, **kwargs) -> None:
    request = getattr(task, "request", None)
    request_id = getattr(request, "request_id", None) if request is not None else None
    if not (isinstance(request_id, str) and _REQUEST_ID.fullmatch(request_id)):
        request_id = f"task-{task_id}" if task_id else new_request_id()
    _task_tokens[task_id] = request_id_var.set(request_id)


def celery_task_postrun(task_id=None, **kwargs) -> None:
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        try:
            request_id_var.reset(token)
        except ValueError:  # set in another context (eventlet/gevent pools): just clear it
            request_id_var.set("")


def format_exception_line(exc: BaseException) -> str:
    """`Type: message` of an exception, redacted (for one-line summaries)."""
    return _redactor("".join(traceback.format_exception_only(type(exc), exc)).strip())
