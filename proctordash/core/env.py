"""Tiny typed readers for environment variables.

Every setting the operators control is read through these helpers so a bad value stops start-up with a message
that names the variable, instead of a confusing failure later on.
"""

from __future__ import annotations

import os
import zoneinfo
from urllib.parse import urlsplit


class ConfigurationError(Exception):
    """A setting read from the environment is missing or has a value we cannot use."""


TRUE_VALUES = {"1", "true", "yes", "on"}
FALSE_VALUES = {"0", "false", "no", "off", ""}


def envbool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    raise ConfigurationError(f"{name} must be one of true/false/1/0/yes/no/on/off, got {raw!r}")


def envint(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
    return value


def envstr(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def envurl(name: str, default: str = "") -> str:
    """A base URL: http(s) with a host; a trailing slash is dropped so paths can be appended."""
    value = envstr(name, default)
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        # Never echo the value: some operators put credentials into URLs.
        raise ConfigurationError(f"{name} must be an http(s) URL with a host")
    return value.rstrip("/")


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL (for Content-Security-Policy source lists)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def envtimezone(name: str, default: str) -> str:
    value = envstr(name, default) or default
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(f"{name} must be an IANA time zone such as Europe/Amsterdam, got {value!r}") from None
    return value


def envsecret(name: str, *, required: bool, demo_default: str = "") -> str:
    """A secret: required when DEBUG is off; the message names the variable, never the value."""
    value = os.environ.get(name, "").strip()
    if value:
        return value
    if required:
        raise ConfigurationError(f"{name} is not set; it is required when DJANGO_DEBUG is off")
    return demo_default


# Values that appear in our examples or in Django's own templates: a deployment that copied them as they are would
# sign sessions with a key anyone can read.
PLACEHOLDER_MARKERS = ("change-me", "changeme", "insecure", "secret-key-here", "replace-me", "your-secret")


def check_secret_key(name: str, value: str) -> str:
    """Refuse a placeholder or weak Django secret key (production only; the message never shows the value).

    Weak as Django's own deploy check defines it (security.W009): fewer than 50 characters or fewer than 5 distinct
    ones; a placeholder: a value containing a marker of the examples (.env.example: "change-me-…") or Django's
    "django-insecure-" prefix."""
    lowered = value.lower()
    if any(marker in lowered for marker in PLACEHOLDER_MARKERS):
        raise ConfigurationError(
            f"{name} is a placeholder from an example file; generate one, for example with "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    if len(value) < 50 or len(set(value)) < 5:
        raise ConfigurationError(f"{name} is too weak: use at least 50 random characters")
    return value
