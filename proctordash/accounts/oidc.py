"""Sign-in through the university's OpenID Connect provider (mozilla-django-oidc, with the checks it leaves to us).

Configured by OIDC_* environment variables (docs/configuration.md, docs/deploy.md). The provider's endpoints come from
its discovery document (`{OIDC_ISSUER}/.well-known/openid-configuration`), fetched when first needed and kept for an
hour; its `issuer` must equal OIDC_ISSUER.

At every sign-in the ID token is verified here — signature (the provider's JWKS, OIDC_SIGN_ALGO only), `iss`,
`aud` (our client id; `azp` too when several audiences), `exp`/`iat` (one minute of clock leeway), `nonce` — and the
role and courses are taken from the claims (ID token plus userinfo, whose `sub` must match):
- role: the values of OIDC_ROLE_CLAIM (default `groups`) matched against OIDC_COORDINATOR_GROUPS,
  OIDC_INSTRUCTOR_GROUPS and OIDC_SUPPORT_GROUPS; several matches give the first of coordinator, instructor,
  support. No match (or no such claim): refused with the "no access" page — never a default role — and an earlier
  role of that person is taken away.
- courses (instructors): the values of OIDC_COURSES_CLAIM (default `proctordash_courses`) that are course SIDs
  (a list, or one string separated by spaces or commas); they replace the person's assignments.
A person is recognised by (issuer, `sub`) — never by e-mail or username, so a university account can never take
over a local (break-glass) account of the same name.

Every refusal is an `OidcRefusal` with a `kind` (for the page's wording and the log) — never a 500.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from proctordash.accounts.models import CourseAssignment, OidcIdentity, Role, StaffProfile
from proctordash.core.http import upstream_session

log = logging.getLogger(__name__)

COURSE_SID = re.compile(r"CU[a-f0-9]{32}")
ROLE_ORDER = (Role.COORDINATOR, Role.INSTRUCTOR, Role.SUPPORT)
DISCOVERY_TTL = 3600.0
CLOCK_LEEWAY = 60


class OidcRefusal(Exception):
    """A sign-in that must not succeed. `kind` picks the page's wording; the message is for the log only."""

    def __init__(self, kind: str, detail: str, *, status: int = 403, **context):
        super().__init__(detail)
        self.kind = kind
        self.status = status
        self.context = context


def enabled() -> bool:
    return bool(getattr(settings, "OIDC_ENABLED", False))


# --- the provider's discovery document ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None


_cache: dict[str, tuple[float, Provider]] = {}
_cache_lock = threading.Lock()


def _session() -> requests.Session:
    timeout = float(settings.OIDC_TIMEOUT)
    # POST (the token request) is never retried by this session; GETs get a quick retry for transient faults.
    return upstream_session(timeout=(min(timeout, 5.0), timeout), retries=1)


def provider() -> Provider:
    """The provider's endpoints (cached per process). Raises OidcRefusal("unavailable"/"misconfigured")."""
    issuer = settings.OIDC_ISSUER.rstrip("/")
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(issuer)
        if hit and hit[0] > now:
            return hit[1]
    url = issuer + "/.well-known/openid-configuration"
    try:
        with _session() as session:
            response = session.get(url)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as e:
        raise OidcRefusal("unavailable", f"discovery document of {issuer} unavailable: {type(e).__name__}: {e}",
                          status=503) from e
    if not isinstance(document, dict) or document.get("issuer", "").rstrip("/") != issuer:
        raise OidcRefusal("misconfigured", f"discovery document at {url} names issuer "
                          f"{document.get('issuer') if isinstance(document, dict) else None!r}, not {issuer!r}",
                          status=503)
    try:
        found = Provider(
            issuer=document["issuer"],
            authorization_endpoint=document["authorization_endpoint"],
            token_endpoint=document["token_endpoint"],
            jwks_uri=document["jwks_uri"],
            userinfo_endpoint=document.get("userinfo_endpoint"),
            end_session_endpoint=document.get("end_session_endpoint"),
        )
    except KeyError as e:
        raise OidcRefusal("misconfigured", f"discovery document lacks {e}", status=503) from None
    with _cache_lock:
        _cache[issuer] = (now + DISCOVERY_TTL, found)
    return found


def forget_provider() -> None:
    with _cache_lock:
        _cache.clear()


# --- claims → role and courses ------------------------------------------------------------------------------------
def _values(claim) -> list[str]:
    if claim is None:
        return []
    if isinstance(claim, str):
        return [part for part in re.split(r"[\s,]+", claim) if part]
    if isinstance(claim, (list, tuple)):
        return [str(item) for item in claim if isinstance(item, (str, int))]
    return []


def role_from_claims(claims: dict) -> str | None:
    groups = set(_values(claims.get(settings.OIDC_ROLE_CLAIM)))
    mapping = {
        Role.COORDINATOR: set(settings.OIDC_COORDINATOR_GROUPS),
        Role.INSTRUCTOR: set(settings.OIDC_INSTRUCTOR_GROUPS),
        Role.SUPPORT: set(settings.OIDC_SUPPORT_GROUPS),
    }
    for role in ROLE_ORDER:
        if groups & mapping[role]:
            return role
    return None


def courses_from_claims(claims: dict) -> list[str]:
    values = _values(claims.get(settings.OIDC_COURSES_CLAIM))
    good = sorted({v for v in values if COURSE_SID.fullmatch(v)})
    if len(good) != len(set(values)):
        log.warning("ignored %d course value(s) in claim %s that are not course SIDs",
                    len(set(values)) - len(good), settings.OIDC_COURSES_CLAIM)
    return good


def display_name(claims: dict) -> str:
    for key in (settings.OIDC_USERNAME_CLAIM, "preferred_username", "email", "name"):
        value = claims.get(key)
        if isinstance(value, str) and value:
            return value
    return "your university account"


# --- the backend --------------------------------------------------------------------------------------------------
class OidcBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend with the provider from discovery, our HTTP session (timeouts), full ID token
    validation, and identity/role mapping from claims. `authenticate()` raises OidcRefusal instead of returning
    None, so the callback can say why; it is called by our callback view only (not by django.contrib.auth)."""

    def __init__(self, *args, **kwargs):  # noqa: D107 - settings are read when a sign-in happens
        from django.contrib.auth import get_user_model as _get_user_model

        self.UserModel = _get_user_model()
        self.OIDC_RP_CLIENT_ID = getattr(settings, "OIDC_RP_CLIENT_ID", "")
        self.OIDC_RP_CLIENT_SECRET = getattr(settings, "OIDC_RP_CLIENT_SECRET", "")
        self.OIDC_RP_SIGN_ALGO = getattr(settings, "OIDC_RP_SIGN_ALGO", "RS256")
        self.OIDC_RP_IDP_SIGN_KEY = None
        self._provider: Provider | None = None

    def authenticate(self, request, **kwargs):
        if request is None or not enabled() or not request.GET.get("code"):
            return None  # a password sign-in, or OIDC off: not ours
        self._provider = provider()
        self.OIDC_OP_TOKEN_ENDPOINT = self._provider.token_endpoint
        self.OIDC_OP_USER_ENDPOINT = self._provider.userinfo_endpoint
        self.OIDC_OP_JWKS_ENDPOINT = self._provider.jwks_uri
        try:
            return super().authenticate(request, **kwargs)
        except OidcRefusal:
            raise
        except requests.RequestException as e:
            status = getattr(getattr(e, "response", None), "status_code", None)
            if status is not None and 400 <= status < 500:
                raise OidcRefusal("rejected", f"provider refused the code exchange (HTTP {status})") from e
            raise OidcRefusal("unavailable", f"provider did not answer: {type(e).__name__}", status=503) from e

    # -- HTTP through our session factory (timeouts; POST never retried)
    def get_token(self, payload):
        with _session() as session:
            response = session.post(self.OIDC_OP_TOKEN_ENDPOINT, data=payload)
        if response.status_code != 200:
            # never the body or URL in the message: the body may echo the code
            raise requests.HTTPError(f"token endpoint answered HTTP {response.status_code}", response=response)
        try:
            return response.json()
        except ValueError as e:
            raise OidcRefusal("rejected", "token endpoint answered something that is not JSON") from e

    def retrieve_matching_jwk(self, token):
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as e:
            raise OidcRefusal("invalid_token", f"ID token header unreadable: {e}") from e
        with _session() as session:
            response = session.get(self.OIDC_OP_JWKS_ENDPOINT)
        response.raise_for_status()
        for key in response.json().get("keys", []):
            if header.get("kid") and key.get("kid") != header.get("kid"):
                continue
            if key.get("alg") and key["alg"] != header.get("alg"):
                continue
            return jwt.PyJWK(key)
        raise OidcRefusal("invalid_token", f"no key of the provider matches kid={header.get('kid')!r}")

    def get_userinfo(self, access_token, id_token, payload):
        if not self.OIDC_OP_USER_ENDPOINT or not access_token:
            return {}
        with _session() as session:
            response = session.get(self.OIDC_OP_USER_ENDPOINT, headers={"Authorization": f"Bearer {access_token}"})
        response.raise_for_status()
        if response.headers.get("content-type", "").lower().startswith("application/jwt"):
            return self.verify_token(response.text, userinfo=True)
        info = response.json()
        return info if isinstance(info, dict) else {}

    # -- the ID token: everything mozilla-django-oidc leaves unchecked (audience, issuer) and what it lets escape
    #    as an exception (an expired token)
    def verify_token(self, token, **kwargs):
        if not token:
            raise OidcRefusal("invalid_token", "the token answer has no id_token")
        key = self.retrieve_matching_jwk(token)
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != self.OIDC_RP_SIGN_ALGO:
                raise OidcRefusal("invalid_token", f"ID token signed with {header.get('alg')!r}, "
                                  f"not {self.OIDC_RP_SIGN_ALGO}")
            payload = jwt.decode(
                token, key, algorithms=[self.OIDC_RP_SIGN_ALGO], audience=self.OIDC_RP_CLIENT_ID,
                issuer=self._provider.issuer, leeway=CLOCK_LEEWAY,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as e:
            raise OidcRefusal("expired", f"ID token expired: {e}") from e
        except jwt.ImmatureSignatureError as e:
            raise OidcRefusal("expired", f"ID token not valid yet (clock skew?): {e}") from e
        except jwt.InvalidAudienceError as e:
            raise OidcRefusal("wrong_audience", f"ID token audience is not {self.OIDC_RP_CLIENT_ID!r}: {e}") from e
        except jwt.InvalidIssuerError as e:
            raise OidcRefusal("invalid_token", f"ID token issuer is not {self._provider.issuer!r}") from e
        except jwt.PyJWTError as e:
            raise OidcRefusal("invalid_token", f"ID token rejected: {type(e).__name__}: {e}") from e
        if kwargs.get("userinfo"):
            return payload
        aud = payload.get("aud")
        if isinstance(aud, list) and len(aud) > 1 and payload.get("azp") != self.OIDC_RP_CLIENT_ID:
            raise OidcRefusal("wrong_audience", "ID token has several audiences and azp is not our client id")
        if payload.get("nonce") != kwargs.get("nonce"):
            raise OidcRefusal("invalid_token", "ID token nonce does not match the one this browser sent")
        return payload

    def store_tokens(self, access_token, id_token):
        # Only the ID token, as the id_token_hint of RP-initiated logout; the access token is never kept.
        self.request.session["oidc_id_token"] = id_token

    # -- claims → account, role and courses
    def get_or_create_user(self, access_token, id_token, payload):
        claims = dict(payload)
        info = self.get_userinfo(access_token, id_token, payload)
        if info:
            if info.get("sub") != payload.get("sub"):
                raise OidcRefusal("invalid_token", "userinfo answered for another subject than the ID token")
            claims.update(info)
        return identity_sign_in(issuer=self._provider.issuer, claims=claims)

    def get_user(self, user_id):
        try:
            return self.UserModel.objects.get(pk=user_id)
        except self.UserModel.DoesNotExist:
            return None


def _free_username(wanted: str) -> str:
    User = get_user_model()
    base = re.sub(r"[^\w.@+-]", "", wanted)[:140] or "user"
    candidate, n = base, 1
    while User.objects.filter(username=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def identity_sign_in(*, issuer: str, claims: dict):
    """The dashboard account of the person these (verified) claims describe, with role and courses set from them.
    Raises OidcRefusal("no_role") when no role maps — and then takes away any role the person had."""
    subject = str(claims["sub"])
    role = role_from_claims(claims)
    courses = courses_from_claims(claims) if role == Role.INSTRUCTOR else []
    User = get_user_model()
    if role is None:
        # take away a role given at an earlier sign-in (committed: the refusal below must not undo it)
        with transaction.atomic():
            identity = OidcIdentity.objects.filter(issuer=issuer, subject=subject).first()
            if identity is not None:
                StaffProfile.objects.filter(user_id=identity.user_id).delete()
                CourseAssignment.objects.filter(user_id=identity.user_id).delete()
        raise OidcRefusal("no_role", f"no group of claim {settings.OIDC_ROLE_CLAIM!r} maps to a role "
                          f"(subject {subject})", name=display_name(claims))
    with transaction.atomic():
        identity = OidcIdentity.objects.select_related("user").select_for_update().filter(
            issuer=issuer, subject=subject).first()
        if identity is None:
            user = User(username=_free_username(display_name(claims)))
            user.set_unusable_password()  # university accounts never sign in with a local password
            user.save()
            identity = OidcIdentity.objects.create(user=user, issuer=issuer, subject=subject)
        user = identity.user
        if not user.is_active:
            raise OidcRefusal("disabled", f"account {user.pk} is deactivated", name=display_name(claims))
        user.email = str(claims.get("email") or "")[:254]
        user.first_name = str(claims.get("given_name") or "")[:150]
        user.last_name = str(claims.get("family_name") or "")[:150]
        user.save(update_fields=["email", "first_name", "last_name"])
        StaffProfile.objects.update_or_create(user=user, defaults={"role": role})
        CourseAssignment.objects.filter(user=user).exclude(course_sid__in=courses).delete()
        for sid in courses:
            CourseAssignment.objects.get_or_create(user=user, course_sid=sid)
    log.info("signed in through OIDC: user %s, role %s, %d course(s)", user.pk, role, len(courses))
    return user


# --- sign-out at the provider (RP-initiated logout) -----------------------------------------------------------------
def logout_url(request, *, id_token: str | None, post_logout_redirect: str) -> str | None:
    """Where to send the browser so the provider ends its session too, or None (not an OIDC session, the provider
    does not support it, or it cannot be reached: the local sign-out still happens)."""
    if not (enabled() and settings.OIDC_LOGOUT and id_token):
        return None
    try:
        endpoint = provider().end_session_endpoint
    except OidcRefusal as e:
        log.warning("sign-out at the provider skipped: %s", e)
        return None
    if not endpoint:
        return None
    query = urlencode({"id_token_hint": id_token, "client_id": settings.OIDC_RP_CLIENT_ID,
                       "post_logout_redirect_uri": request.build_absolute_uri(post_logout_redirect)})
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"
