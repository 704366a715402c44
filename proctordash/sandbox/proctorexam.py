"""ProctorExam v3 as shared/upstream-api/proctorexam-list-student-sessions.txt and the README describe it.

Every call is checked in this order: the `Accept` header, the `Authorization: Token token=...` header, the
presence and form of `timestamp`/`nonce`/`signature`, the signature (HMAC-SHA256, hex, keyed with the secret key,
over the other query parameters as unencoded `name=value` sorted by name and joined with `?`, compared in constant
time), the timestamp (at most 5 minutes from real time), the nonce (unused in the last 24 hours), then the
endpoint's own parameters. The signature is computed over the decoded values, so a client must sign the values it
sends, not their URL encoding.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import time

from proctordash.core.vocabulary import PROCTOREXAM_EXAM_STATUSES, PROCTOREXAM_MAX_LIMIT, PROCTOREXAM_SESSION_STATUSES
from proctordash.sandbox.web import PE_FORBIDDEN, Response, json_response, pe_error, query_pairs

ACCEPT = "application/vnd.procwise.v3"
MAX_SKEW_MS = 5 * 60 * 1000
_DIGITS = re.compile(r"^\d+$")
_TOKEN_HEADER = re.compile(r'^Token token=(?:"([^"]*)"|([^\s",]+))\s*$')


def signing_string(params: dict[str, str]) -> str:
    """`name=value` for every parameter except `signature`, sorted by name, joined with `?`, values unencoded."""
    return "?".join(f"{name}={params[name]}" for name in sorted(params) if name != "signature")


def sign(params: dict[str, str], secret_key: str) -> str:
    return hmac.new(secret_key.encode(), signing_string(params).encode(), hashlib.sha256).hexdigest()


def authorize(app, environ) -> tuple[dict | None, Response | None]:
    """The checks every ProctorExam call makes; returns the query parameters (last value wins) or an error."""
    accept = environ.get("HTTP_ACCEPT", "")
    if ACCEPT not in [part.split(";")[0].strip() for part in accept.split(",")]:
        return None, pe_error(406, f"Accept must be {ACCEPT}")
    # Rails' token authentication: `Token token=abc` or `Token token="abc"`.
    match = _TOKEN_HEADER.match(environ.get("HTTP_AUTHORIZATION", ""))
    given = match.group(1) or match.group(2) if match else ""
    if not hmac.compare_digest(given.encode(), app.credentials["PROCTOREXAM_TOKEN"].encode()):
        return None, pe_error(403, PE_FORBIDDEN)
    params: dict[str, str] = {}
    for name, value in query_pairs(environ):
        params[name] = value  # Rails keeps the last of repeated scalar parameters
    for name in ("timestamp", "nonce"):
        if name not in params:
            return None, pe_error(400, f"Missing parameter {name}", param=name)
        if not _DIGITS.match(params[name]):
            return None, pe_error(400, f"{name} must be a number", param=name)
    if not params.get("signature"):
        return None, pe_error(400, "Missing parameter signature", param="signature")
    expected_signature = sign(params, app.credentials["PROCTOREXAM_SECRET_KEY"])
    if not hmac.compare_digest(params["signature"].encode(), expected_signature.encode()):
        return None, pe_error(403, PE_FORBIDDEN)
    real_now = time.time()
    if abs(real_now * 1000 - int(params["timestamp"])) > MAX_SKEW_MS:
        return None, pe_error(403, PE_FORBIDDEN)
    if not app.store.use_nonce(params["nonce"], real_now):
        return None, pe_error(403, PE_FORBIDDEN)
    return params, None


def _paging(params) -> tuple[int, int, Response | None]:
    page, limit = 1, PROCTOREXAM_MAX_LIMIT
    for name in ("page", "limit"):
        if name in params:
            if not _DIGITS.match(params[name]) or int(params[name]) < 1:
                return 0, 0, pe_error(400, f"{name} must be a number of at least 1", param=name)
    if "page" in params:
        page = int(params["page"])
    if "limit" in params:
        limit = min(int(params["limit"]), PROCTOREXAM_MAX_LIMIT)  # "Default and maximum value is 300"
    return page, limit, None


def _paged(key: str, items: list, page: int, limit: int, render) -> Response:
    total = len(items)
    chunk = items[(page - 1) * limit: page * limit]
    headers = [
        ("X-Pagination-Item-Count", str(total)),
        ("X-Pagination-Page-Count", str(math.ceil(total / limit))),
        ("X-Pagination-Page", str(page)),
        ("X-Pagination-Limit", str(limit)),
    ]
    return json_response(200, {key: [render(item) for item in chunk]}, headers=headers)


def _drop(decision, doc: dict) -> dict:
    if decision.missing_share and decision.rng.random() < decision.missing_share:
        return {k: v for k, v in doc.items() if k not in decision.missing_names}
    return doc


def list_exams(app, environ, decision) -> Response:
    params, problem = authorize(app, environ)
    if problem:
        return problem
    status = params.get("status")
    if status is not None and status not in PROCTOREXAM_EXAM_STATUSES:
        return pe_error(400, f"status must be one of {','.join(PROCTOREXAM_EXAM_STATUSES)}", param="status")
    page, limit, problem = _paging(params)
    if problem:
        return problem
    store = app.store
    with store.lock:
        now = store.now()
        exams = [e for e in store.pe_exams.values()
                 if status is None or store.pe_exam_status(e, now) == status]
        exams.sort(key=lambda e: e.id)
        return _paged("exams", exams, page, limit, lambda e: _drop(decision, store.pe_exam_dict(e, now)))


def list_student_sessions(app, environ, decision, exam_id: str) -> Response:
    params, problem = authorize(app, environ)
    if problem:
        return problem
    store = app.store
    exam = store.pe_exams.get(int(exam_id)) if _DIGITS.match(exam_id) else None
    if exam is None:
        return pe_error(404, "Not found")
    status = params.get("status")
    if status is not None and status not in PROCTOREXAM_SESSION_STATUSES:
        return pe_error(400, f"status must be one of {','.join(PROCTOREXAM_SESSION_STATUSES)}", param="status")
    page, limit, problem = _paging(params)
    if problem:
        return problem
    with store.lock:
        now = store.now()
        sessions = [s for s in exam.sessions if status is None or store.pe_session_status(s, now)[0] == status]
        return _paged("students", sessions, page, limit, lambda s: _drop(decision, store.pe_session_dict(s, now)))
