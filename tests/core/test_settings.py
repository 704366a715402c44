"""Settings come only from the environment; bad values stop start-up with a message naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "prod-" + "k" * 60,
    "DJANGO_ALLOWED_HOSTS": "dash.example.edu",
    "SMARTERPROCTORING_TOKEN": "sp-prod-token-value",
    "SMARTERPROCTORING_INSTALL_SID": "AI" + "1" * 32,
    "PROCTOREXAM_BASE_URL": "https://america.proctorexam.com",
    "PROCTOREXAM_TOKEN": "pe-prod-token-value",
    "PROCTOREXAM_SECRET_KEY": "pe-prod-secret-value",
    "DATABASE_URL": "postgres://u@127.0.0.1:5432/db",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}


def run_settings(env: dict[str, str], code: str = "from django.conf import settings; settings.INSTALLED_APPS"):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SMARTERPROCTORING_", "PROCTOREXAM_", "DATABASE_", "REDIS_", "DASHBOARD_"))}
    clean.update(env)
    clean["DJANGO_SETTINGS_MODULE"] = "proctordash.settings"
    return subprocess.run([sys.executable, "-c", "import django; django.setup(); " + code], cwd=ROOT, env=clean,
                          capture_output=True, text=True, timeout=60)


def test_production_settings_load():
    result = run_settings(PRODUCTION_ENV, "from django.conf import settings; print(settings.DATABASES['default']['ENGINE'], settings.TIME_ZONE)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.postgresql", "UTC"]


@pytest.mark.parametrize(
    "missing",
    ["DJANGO_SECRET_KEY", "SMARTERPROCTORING_TOKEN", "PROCTOREXAM_TOKEN", "PROCTOREXAM_SECRET_KEY",
     "SMARTERPROCTORING_INSTALL_SID", "PROCTOREXAM_BASE_URL", "DJANGO_ALLOWED_HOSTS"],
)
def test_missing_secret_or_setting_stops_startup_naming_it(missing):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = run_settings(env)
    assert result.returncode != 0
    assert "ConfigurationError" in result.stderr and missing in result.stderr


@pytest.mark.parametrize(
    "name,value",
    [
        ("DJANGO_DEBUG", "maybe"),
        ("DASHBOARD_TIME_ZONE", "Mars/Olympus"),
        ("SMARTERPROCTORING_BASE_URL", "ftp://example"),
        ("PROCTOREXAM_BASE_URL", "not a url"),
        ("SMARTERPROCTORING_INSTALL_SID", "AI123"),
        ("REDIS_URL", "memcached://x"),
        ("UPSTREAM_READ_TIMEOUT", "soon"),
        ("DATABASE_URL", "nonsense-scheme://x"),
    ],
)
def test_bad_value_gives_clear_error(name, value):
    result = run_settings({**PRODUCTION_ENV, name: value})
    assert result.returncode != 0
    assert "ConfigurationError" in result.stderr and name in result.stderr


def test_secret_values_never_in_error_text():
    result = run_settings({**PRODUCTION_ENV, "DATABASE_URL": "nonsense-scheme://user:hunter2secret@x"})
    assert "hunter2secret" not in result.stderr


def test_each_variable_is_read():
    env = {**PRODUCTION_ENV, "DASHBOARD_TIME_ZONE": "Europe/Amsterdam", "DJANGO_ALLOWED_HOSTS": "a.edu, b.edu",
           "SMARTERPROCTORING_BASE_URL": "http://api.dev.smarterproctoring.com/"}
    code = (
        "from django.conf import settings as s; "
        "print(s.TIME_ZONE, ','.join(s.ALLOWED_HOSTS), s.SMARTERPROCTORING_BASE_URL, s.PROCTOREXAM_BASE_URL, "
        "s.SMARTERPROCTORING_INSTALL_SID, s.CACHES['default']['LOCATION'], s.CELERY_BROKER_URL, s.DEBUG)"
    )
    result = run_settings(env, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "Europe/Amsterdam", "a.edu,b.edu", "http://api.dev.smarterproctoring.com", "https://america.proctorexam.com",
        "AI" + "1" * 32, "redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0", "False",
    ]


def test_embedded_defaults_without_database_or_redis_url(tmp_path):
    env = {"DJANGO_DEBUG": "true", "PROCTORDASH_VAR_DIR": str(tmp_path)}
    code = "from django.conf import settings as s; print(s.DATABASES['default']['NAME'], s.CACHES['default']['LOCATION'], s.CELERY_BROKER_URL)"
    result = run_settings(env, code)
    assert result.returncode == 0, result.stderr
    db, cache, broker = result.stdout.split()
    assert db == str(tmp_path / "proctordash.sqlite3")
    assert cache == f"unix://{tmp_path}/redis/redis.sock"
    assert broker == f"redis+socket://{tmp_path}/redis/redis.sock"


def test_check_deploy_is_clean_under_production_settings():
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SMARTERPROCTORING_", "PROCTOREXAM_", "DATABASE_", "REDIS_"))}
    clean.update(PRODUCTION_ENV)
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT,
                            env=clean, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    "value",
    [
        "change-me-50-random-characters",  # .env.example and deploy/env.example, as they are
        "change-me-" + "q" * 60,
        "django-insecure-" + "abcdefghij" * 5,
        "s3cr3t-but-short",
        "a" * 80,
    ],
)
def test_production_refuses_a_placeholder_or_weak_secret_key(value):
    result = run_settings({**PRODUCTION_ENV, "DJANGO_SECRET_KEY": value})
    assert result.returncode != 0
    assert "ConfigurationError" in result.stderr and "DJANGO_SECRET_KEY" in result.stderr
    assert value not in result.stderr


def test_the_example_files_hold_a_placeholder_that_production_refuses():
    for example in (ROOT / ".env.example", ROOT / "deploy" / "env.example"):
        line = next(l for l in example.read_text().splitlines() if l.startswith("DJANGO_SECRET_KEY="))
        result = run_settings({**PRODUCTION_ENV, "DJANGO_SECRET_KEY": line.split("=", 1)[1]})
        assert result.returncode != 0 and "placeholder" in result.stderr, example
