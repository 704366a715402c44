"""Logs: secrets redacted from every line (urllib3's included), JSON lines in production, a request id on every line
of a request and in the Celery tasks it sends."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest
from django.urls import reverse

from proctordash.core import logs
from tests.core.test_settings import PRODUCTION_ENV, ROOT, run_settings

SECRET_VARIABLES = ("SMARTERPROCTORING_TOKEN", "SMARTERPROCTORING_INSTALL_SID", "PROCTOREXAM_TOKEN",
                    "PROCTOREXAM_SECRET_KEY", "DJANGO_SECRET_KEY")


def test_urllib3_lines_name_the_endpoint_but_not_the_install_sid(sandbox, caplog, settings):
    """urllib3 writes the request path (with the install SID) into its debug lines and its "Retrying" warnings."""
    from proctordash.integrations.exceptions import UpstreamUnavailable
    from proctordash.integrations.smarterproctoring import SmarterProctoringClient

    caplog.set_level(logging.DEBUG, logger="urllib3")
    sandbox.set_faults(appointments={"error_rate": 1})
    try:
        with pytest.raises(UpstreamUnavailable), SmarterProctoringClient.from_settings(retries=1) as client:
            list(client.list_appointments(page_size=5))
    finally:
        sandbox.set_faults()
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")]
    assert any("/v1/installs/AI[redacted]/reports/appointments" in line for line in lines), lines
    assert settings.SMARTERPROCTORING_INSTALL_SID not in caplog.text


@pytest.mark.parametrize("name", SECRET_VARIABLES)
def test_no_secret_survives_a_log_line_or_its_traceback(name, caplog):
    value = os.environ[name]
    log = logging.getLogger("proctordash.test")
    with caplog.at_level(logging.INFO):
        log.info("calling with %s", value)
        log.info("url http://127.0.0.1/v1/installs/%s?token=%s", value, value)
        try:
            raise RuntimeError(f"failed at https://host/x/{value}/y")
        except RuntimeError:
            log.exception("upstream call failed")
    assert value not in caplog.text
    assert "[redacted]" in caplog.text
    record = caplog.records[-1]
    assert value not in (record.exc_text or "") and "RuntimeError" in record.exc_text
    for formatter in (logs.RedactingFormatter("%(message)s"), logs.RedactingJsonFormatter()):
        assert value not in formatter.format(record)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("postgres://proctordash:hunter2hunter2@db/x", "postgres://proctordash:[redacted]@db/x"),
        ("GET /cb?code=abcdef123&state=xyz", "GET /cb?code=[redacted]&state=xyz"),
        ("Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig", "Authorization: [redacted]"),
        ("headers {'token': 'f00dfeedf00dfeed'}", "headers {'token': '[redacted]'}"),
        ("install AI" + "0123456789abcdef" * 2 + " is not configured", "install AI[redacted] is not configured"),
        ("Checked 12 sessions in 3 ms", "Checked 12 sessions in 3 ms"),
    ],
)
def test_patterns(text, expected):
    assert logs.redact(text) == expected


def _production_log_lines(code: str, **extra_env) -> list[dict]:
    result = run_settings({**PRODUCTION_ENV, **extra_env}, code)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


def test_production_writes_json_lines_without_secrets():
    code = (
        "import logging; from django.conf import settings as s; "
        "logging.getLogger('urllib3.connectionpool').warning('Retrying after connection broken: /v1/installs/%s/x', "
        "s.SMARTERPROCTORING_INSTALL_SID); "
        "logging.getLogger('proctordash.x').error('token %s and key %s', s.SMARTERPROCTORING_TOKEN, "
        "s.PROCTOREXAM_SECRET_KEY, extra={'url': 'https://u:' + 'pw-in-url-123' + '@h/'})"
    )
    records = _production_log_lines(code)
    assert [r["logger"] for r in records] == ["urllib3.connectionpool", "proctordash.x"]
    assert {"time", "level", "logger", "message", "request_id"} <= records[0].keys()
    assert records[0]["time"].endswith("+00:00")
    text = json.dumps(records)
    for name in ("SMARTERPROCTORING_INSTALL_SID", "SMARTERPROCTORING_TOKEN", "PROCTOREXAM_SECRET_KEY"):
        assert PRODUCTION_ENV[name] not in text
    assert "pw-in-url-123" not in text
    assert records[1]["url"] == "https://u:[redacted]@h/"


def test_log_format_is_checked():
    result = run_settings({**PRODUCTION_ENV, "LOG_FORMAT": "xml"})
    assert result.returncode != 0 and "LOG_FORMAT" in result.stderr


@pytest.mark.django_db
def test_each_request_gets_an_id_on_its_lines_and_in_its_answer(client_for, coordinator, caplog):
    client = client_for(coordinator)
    with caplog.at_level(logging.INFO, logger="proctordash.request"):
        response = client.get(reverse("profile") + "?q=jane.doe")
        forwarded = client.get(reverse("profile"), HTTP_X_REQUEST_ID="lb-1234567890abcdef")
        forged = client.get(reverse("profile"), HTTP_X_REQUEST_ID="<script>alert(1)</script>")
    first = response["X-Request-ID"]
    assert len(first) == 32
    assert forwarded["X-Request-ID"] == "lb-1234567890abcdef"  # the proxy's id is kept
    assert "<" not in forged["X-Request-ID"]  # anything else is replaced, never echoed into the logs
    lines = [r for r in caplog.records if r.name == "proctordash.request"]
    assert [r.request_id for r in lines] == [first, "lb-1234567890abcdef", forged["X-Request-ID"]]
    assert lines[0].view == "profile" and lines[0].status == 200 and lines[0].user_id == coordinator.pk
    assert "jane.doe" not in caplog.text  # query strings are never logged


def test_request_id_travels_into_a_celery_task_and_back_out():
    """The publish hook puts the current id into the message headers; the worker side makes it current."""
    from types import SimpleNamespace

    token = logs.request_id_var.set("req-0123456789")
    try:
        headers: dict = {}
        logs.celery_before_publish(headers=headers)
        assert headers == {"request_id": "req-0123456789"}
    finally:
        logs.request_id_var.reset(token)
    task = SimpleNamespace(request=SimpleNamespace(request_id=headers["request_id"]))
    logs.celery_task_prerun(task_id="t1", task=task)
    assert logs.current_request_id() == "req-0123456789"
    logs.celery_task_postrun(task_id="t1")
    assert logs.current_request_id() == ""
    # a task sent by beat has no request: its own task id names its lines
    logs.celery_task_prerun(task_id="t2", task=SimpleNamespace(request=SimpleNamespace()))
    assert logs.current_request_id() == "task-t2"
    logs.celery_task_postrun(task_id="t2")
