"""Settings of the development identity provider (a separate Django project; see __init__.py). Read from DEVIDP_*
environment variables that `python -m proctordash.devidp` sets."""

import os
from pathlib import Path

STATE_DIR = Path(os.environ.get("DEVIDP_STATE_DIR", "var/devidp"))
DEBUG = False
SECRET_KEY = os.environ.get("DEVIDP_SECRET_KEY", "devidp-only-" + "x" * 40)
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
ROOT_URLCONF = "proctordash.devidp.urls"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "oauth2_provider",
    "proctordash.devidp",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
}]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": STATE_DIR / "devidp.sqlite3",
                         "OPTIONS": {"timeout": 20}}}

# Browsers keep cookies per host, not per port: the dashboard on the same host must not see (or clobber) these.
SESSION_COOKIE_NAME = "devidp_session"
CSRF_COOKIE_NAME = "devidp_csrftoken"
LOGIN_URL = "/accounts/login/"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]

OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": (STATE_DIR / "signing-key.pem").read_text() if (STATE_DIR / "signing-key.pem").exists() else "",
    "OIDC_ISS_ENDPOINT": os.environ.get("DEVIDP_ISSUER", ""),
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT": False,
    "OAUTH2_VALIDATOR_CLASS": "proctordash.devidp.validator.Validator",
    "SCOPES": {"openid": "OpenID Connect", "profile": "Name", "email": "E-mail", "groups": "Groups"},
    "PKCE_REQUIRED": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"],
    "ID_TOKEN_EXPIRE_SECONDS": 300,
    "ACCESS_TOKEN_EXPIRE_SECONDS": 300,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
