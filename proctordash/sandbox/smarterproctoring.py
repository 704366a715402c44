"""SmarterProctoring v1 as the reference pages describe it (shared/upstream-api/smarterproctoring-*.txt).

Validation is hapi/Joi style, as the service's 400 bodies are: the first failing key is named in the message and in
`validation.keys`; unknown query and body keys are rejected (`"foo" is not allowed`); an empty string is not a value
(`"courseSid" is not allowed to be empty`). Filters, ordering and paging follow docs/architecture.md
("Upstream semantics"), which the dashboard's cache reproduces.
"""

from __future__ import annotations

import hmac
import json
import re
from datetime import datetime
from urllib.parse import urlencode

from proctordash.core.vocabulary import (
    APPOINTMENT_STATUSES,
    APPOINTMENT_TYPES,
    EXAM_SESSION_SORT_KEYS,
    EXAM_SESSION_STATUSES,
    EXAM_STATUSES,
    EXAM_TYPES,
    INSTRUCTOR_AS_PROCTOR_TIME_TYPES,
    PERMITTED_ITEMS,
    REVIEW_STATUSES,
    SID_PREFIXES,
    SORT_ORDERS,
)
from proctordash.sandbox.data import iso_z, new_sid
from proctordash.sandbox.web import (
    Invalid,
    Response,
    base_url,
    json_response,
    query_multi,
    query_pairs,
    read_body,
    sp_error,
    sp_invalid,
)

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_NUMBER = re.compile(r"^\s*-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$")
SID_RE = {prefix: re.compile(rf"^{prefix}[a-f0-9]{{32}}$") for prefix in SID_PREFIXES.values()}
NO_PERCENT = re.compile(r"^[^%]*$")
DATE_Z = re.compile(r".*Z")


# --- Joi-like validators (key, value, source) → converted value or Invalid ----------------------------------------
def _label(path: str) -> str:
    # Joi labels nested keys as a[0].b; validation.keys carries them dotted (a.0.b).
    parts = path.split(".")
    out = parts[0]
    for part in parts[1:]:
        out += f"[{part}]" if part.isdigit() else f".{part}"
    return out


def invalid(path: str, message: str, source: str) -> Invalid:
    return Invalid(path, f'"{_label(path)}" {message}', source)


def v_string(path, value, source, *, nullable=False, pattern: re.Pattern | None = None, pattern_text=None):
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise invalid(path, "must be a string", source)
    if value == "":
        raise invalid(path, "is not allowed to be empty", source)
    if pattern is not None and not pattern.search(value):
        raise Invalid(path, f'"{_label(path)}" with value "{value}" fails to match the required pattern: '
                            f'/{pattern_text or pattern.pattern}/', source)
    return value


def v_sid(prefix: str):
    def check(path, value, source):
        return v_string(path, value, source, pattern=SID_RE[prefix])
    return check


def v_enum(options: list[str]):
    def check(path, value, source):
        if not isinstance(value, str) or value not in options:
            if value == "":
                raise invalid(path, "is not allowed to be empty", source)
            raise invalid(path, f"must be one of [{', '.join(options)}]", source)
        return value
    return check


def v_date(path, value, source):
    v_string(path, value, source, pattern=DATE_Z)
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise invalid(path, "must be a valid date", source) from None


def v_query_int(path, value, source):
    """Joi.number().integer().min(0) on a query string value (converted from text)."""
    if not _NUMBER.match(value):
        raise invalid(path, "must be a number", source)
    number = float(value)
    if number != int(number):
        raise invalid(path, "must be an integer", source)
    if number < 0:
        raise invalid(path, "must be greater than or equal to 0", source)
    return int(number)


def v_query_bool(path, value, source):
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise invalid(path, "must be a boolean", source)
    return lowered == "true"


def v_no_percent(path, value, source):
    return v_string(path, value, source, pattern=NO_PERCENT)


def single(params: dict[str, list[str]], key: str, check, source: str = "query"):
    values = params[key]
    if len(values) > 1:
        # Repeating a scalar parameter makes it an array, which Joi rejects with the type's message.
        kind = "a number" if check in (v_query_int,) else "a boolean" if check is v_query_bool else "a string"
        raise invalid(key, f"must be {kind}", source)
    return check(key, values[0], source)


def reject_unknown(params, allowed, source="query"):
    for key in params:
        if key not in allowed:
            raise Invalid(key, f'"{key}" is not allowed', source)


# --- authentication and path parameters ----------------------------------------------------------------------------
def authenticate(environ, token: str) -> Response | None:
    given = environ.get("HTTP_TOKEN")
    if not given:
        return sp_error(401, "Missing authentication")
    if not hmac.compare_digest(given.encode(), token.encode()):
        return sp_error(403, "Invalid token")
    return None


PATH_SIDS = {"installSid": "AI", "courseSid": "CU", "examSid": "EX", "examConfigurationSid": "EC",
             "enrollmentSid": "EN"}


def check_path(store, names: list[str], values: tuple) -> Response | None:
    try:
        for name, value in zip(names, values):
            v_string(name, value, "params", pattern=SID_RE[PATH_SIDS[name]])
    except Invalid as error:
        return sp_invalid(error)
    if values[0] != store.install_sid:
        return sp_error(404, "Install not found")
    return None


# --- List Appointments ---------------------------------------------------------------------------------------------
APPOINTMENT_FILTERS = [
    ("offset", v_query_int), ("limit", v_query_int),
    ("courseSid", v_sid("CU")), ("examSid", v_sid("EX")), ("courseOfferingSid", v_sid("CO")),
    ("type", v_enum(APPOINTMENT_TYPES)), ("status", v_enum(APPOINTMENT_STATUSES)),
    ("reviewStatus", v_enum(REVIEW_STATUSES)), ("examStatus", v_enum(EXAM_STATUSES)),
    ("appointmentAfter", v_date), ("appointmentBefore", v_date),
    ("learnerFirstName", v_no_percent), ("learnerLastName", v_no_percent), ("learnerEmail", v_no_percent),
    ("learnerSid", v_no_percent), ("courseTitle", v_no_percent), ("examTitle", v_no_percent),
]
APPOINTMENT_FILTER_NAMES = {name for name, _ in APPOINTMENT_FILTERS}


def review_status(doc: dict) -> str:
    if doc["reviewRequired"] is not True:
        return "not-required"
    return "complete" if doc["reviewCompletedDate"] else "pending"


def _contains(getter, needle: str):
    needle = needle.lower()

    def test(appt):
        value = getter(appt)
        return value is not None and needle in value.lower()
    return test


def appointment_predicates(q: dict) -> list:
    preds = []
    if "courseSid" in q:
        v = q["courseSid"]
        preds.append(lambda a: a.course_sid == v)
    if "examSid" in q:
        v2 = q["examSid"]
        preds.append(lambda a: a.doc["examSid"] == v2)
    if "courseOfferingSid" in q:
        v3 = q["courseOfferingSid"]
        preds.append(lambda a: a.offering_sid == v3)
    if "type" in q:
        v4 = q["type"]
        preds.append(lambda a: a.doc["sessionType"] == v4)
    if "status" in q:
        v5 = q["status"]
        preds.append(lambda a: a.doc["status"] == v5)
    if "reviewStatus" in q:
        v6 = q["reviewStatus"]
        preds.append(lambda a: review_status(a.doc) == v6)
    if "examStatus" in q:
        v7 = q["examStatus"]
        preds.append(lambda a: a.exam["status"] == v7)
    if "appointmentAfter" in q:
        after = q["appointmentAfter"]
        preds.append(lambda a: a.date is not None and a.date >= after)
    if "appointmentBefore" in q:
        before = q["appointmentBefore"]
        preds.append(lambda a: a.date is not None and a.date < before)
    text_fields = {
        "learnerFirstName": lambda a: a.enrollment.get("firstName"),
        "learnerLastName": lambda a: a.enrollment.get("lastName"),
        "learnerEmail": lambda a: a.enrollment.get("email"),
        "learnerSid": lambda a: a.enrollment.get("userSid"),
        "courseTitle": lambda a: a.doc["course"].get("title"),
        "examTitle": lambda a: a.exam.get("title"),
    }
    for key, getter in text_fields.items():
        if key in q:
            preds.append(_contains(getter, q[key]))
    return preds


def envelope_links(environ, pairs, *, offset: int, limit: int, total: int) -> tuple:
    """first/next/prev/last: absolute URLs with the request's query and a new offset (None where there is none)."""
    base = base_url(environ) + environ.get("PATH_INFO", "")
    kept = [(k, v) for k, v in pairs if k != "offset"]

    def url(new_offset: int) -> str:
        return f"{base}?{urlencode(kept + [('offset', str(new_offset))])}"

    last_offset = 0 if (total == 0 or limit == 0) else ((total - 1) // limit) * limit
    first = url(0)
    nxt = url(offset + limit) if (limit > 0 and offset + limit < total) else None
    prev = url(max(0, offset - limit)) if offset > 0 else None
    return first, nxt, prev, url(last_offset)


def _json_str(value) -> bytes:
    return b"null" if value is None else json.dumps(value).encode()


def envelope_bytes(*, total, first, nxt, prev, last, offset, parts: list[bytes]) -> bytes:
    return b"".join([
        b'{"total":', str(total).encode(), b',"first":', _json_str(first), b',"next":', _json_str(nxt),
        b',"prev":', _json_str(prev), b',"last":', _json_str(last), b',"count":', str(len(parts)).encode(),
        b',"offset":', str(offset).encode(), b',"results":[', b",".join(parts), b"]}",
    ])


def _without(doc: dict, names: list[str]) -> dict:
    return {k: v for k, v in doc.items() if k not in names}


def list_appointments(app, environ, decision, install_sid) -> Response:
    store = app.store
    problem = check_path(store, ["installSid"], (install_sid,))
    if problem:
        return problem
    pairs = query_pairs(environ)
    params = query_multi(pairs)
    try:
        q = {}
        for name, check in APPOINTMENT_FILTERS:
            if name in params:
                q[name] = single(params, name, check)
        reject_unknown(params, APPOINTMENT_FILTER_NAMES)
    except Invalid as error:
        return sp_invalid(error)
    offset = q.get("offset", 0)
    limit = min(q.get("limit", DEFAULT_LIMIT), MAX_LIMIT)
    preds = appointment_predicates(q)
    with store.lock:
        store.tick()
        items = store.world.appointments
        if preds:
            items = store.filtered(q, lambda: [a for a in items if all(p(a) for p in preds)])
        total = len(items)
        page = items[offset:offset + limit] if limit else []
        if decision.missing_share:
            rng = decision.rng
            parts = [
                json.dumps(_without(store.appointment_dict(a), decision.missing_names), ensure_ascii=False,
                           separators=(",", ":")).encode()
                if rng.random() < decision.missing_share else store.appointment_json(a)
                for a in page
            ]
        else:
            parts = [store.appointment_json(a) for a in page]
    first, nxt, prev, last = envelope_links(environ, pairs, offset=offset, limit=limit, total=total)
    return Response(200, envelope_bytes(total=total, first=first, nxt=nxt, prev=prev, last=last, offset=offset,
                                        parts=parts))


# --- List enrollment exam sessions ---------------------------------------------------------------------------------
def _multi(params, names: list[str]) -> list[str] | None:
    """An array parameter: `status=A&status=B`, `status[]=A`, or `status=A,B` (comma-separated)."""
    values = []
    found = False
    for name in names:
        if name in params:
            found = True
            for value in params[name]:
                values.extend(part.strip() for part in value.split(","))
    return values if found else None


def list_sessions(app, environ, decision, install_sid, enrollment_sid, exam_sid) -> Response:
    store = app.store
    problem = check_path(store, ["installSid", "enrollmentSid", "examSid"], (install_sid, enrollment_sid, exam_sid))
    if problem:
        return problem
    pairs = query_pairs(environ)
    params = query_multi(pairs)
    try:
        offset = single(params, "offset", v_query_int) if "offset" in params else 0
        limit = single(params, "limit", v_query_int) if "limit" in params else DEFAULT_LIMIT
        sort_keys = _multi(params, ["sortKeys", "sortKeys[]"])
        for i, key in enumerate(sort_keys or []):
            v_enum(EXAM_SESSION_SORT_KEYS)(f"sortKeys.{i}", key, "query")
        sort_order = single(params, "sortOrder", v_enum(SORT_ORDERS)) if "sortOrder" in params else "ASC"
        statuses = _multi(params, ["status", "status[]"])
        for i, status in enumerate(statuses or []):
            v_enum(EXAM_SESSION_STATUSES)(f"status.{i}", status, "query")
        include_active = single(params, "includeActive", v_query_bool) if "includeActive" in params else False
        reject_unknown(params, {"offset", "limit", "sortKeys", "sortKeys[]", "sortOrder", "status", "status[]",
                                "includeActive"})
    except Invalid as error:
        return sp_invalid(error)
    limit = min(limit, MAX_LIMIT)
    if enrollment_sid not in store.world.enrollments:
        return sp_error(404, "Enrollment not found")
    if exam_sid not in store.world.exams:
        return sp_error(404, "Exam not found")
    with store.lock:
        store.tick()
        records = []
        for appt in store.by_enrollment_exam.get((enrollment_sid, exam_sid), ()):
            status, active = store.session_status(appt)
            if active and not include_active:
                continue
            if statuses is not None and status not in statuses:
                continue
            records.append((appt.created, appt.sid, {
                "sid": appt.sid, "status": status, "sessionType": appt.doc["sessionType"],
                "appointmentDate": appt.doc["appointmentDate"], "createdDate": iso_z(appt.created),
                "editDate": iso_z(appt.edited),
            }))
    records.sort(key=lambda r: (r[0], r[1]), reverse=(sort_order == "DESC"))
    total = len(records)
    page = [r[2] for r in records[offset:offset + limit]] if limit else []
    if decision.missing_share:
        page = [_without(r, decision.missing_names) if decision.rng.random() < decision.missing_share else r
                for r in page]
    first, nxt, prev, last = envelope_links(environ, pairs, offset=offset, limit=limit, total=total)
    return json_response(200, {"total": total, "first": first, "next": nxt, "prev": prev, "last": last,
                               "count": len(page), "offset": offset, "results": page})


# --- Get / Update Configuration ------------------------------------------------------------------------------------
def _find_configuration(store, course_sid, exam_sid, config_sid) -> tuple[dict | None, Response | None]:
    exam = store.world.exams.get(exam_sid)
    if exam is None or exam["courseSid"] != course_sid:
        return None, sp_error(404, "Exam not found")
    config = store.world.configurations.get(config_sid)
    if config is None or config["examSid"] != exam_sid:
        return None, sp_error(404, "Exam configuration not found")
    return config, None


def get_configuration(app, environ, decision, install_sid, course_sid, exam_sid, config_sid) -> Response:
    store = app.store
    problem = check_path(store, ["installSid", "courseSid", "examSid", "examConfigurationSid"],
                         (install_sid, course_sid, exam_sid, config_sid))
    if problem:
        return problem
    params = query_multi(query_pairs(environ))
    try:
        reject_unknown(params, set())
    except Invalid as error:
        return sp_invalid(error)
    with store.lock:
        config, missing = _find_configuration(store, course_sid, exam_sid, config_sid)
        if missing:
            return missing
        doc = store.configuration_public(config)
    if decision.missing_share and decision.rng.random() < decision.missing_share:
        doc = _without(doc, decision.missing_names)
    return json_response(200, doc)


def v_bool(path, value, source):
    if not isinstance(value, bool):
        raise invalid(path, "must be a boolean", source)
    return value


def v_int(path, value, source):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid(path, "must be a number", source)
    if int(value) != value:
        raise invalid(path, "must be an integer", source)
    return int(value)


def v_nullable_string(path, value, source):
    return v_string(path, value, source, nullable=True)


def v_plain_string(path, value, source):
    return v_string(path, value, source)


def v_object(path, value, source):
    if not isinstance(value, dict):
        raise invalid(path, "must be of type object", source)
    return value


def v_array_of(item_check, *, min_items=None, max_items=None):
    def check(path, value, source):
        if not isinstance(value, list):
            raise invalid(path, "must be an array", source)
        if min_items is not None and len(value) < min_items:
            raise invalid(path, f"must contain at least {min_items} items", source)
        if max_items is not None and len(value) > max_items:
            raise invalid(path, f"must contain less than or equal to {max_items} items", source)
        return [item_check(f"{path}.{i}", item, source) for i, item in enumerate(value)]
    return check


def v_schema(fields: dict, required: set = frozenset()):
    """An object whose keys are checked by `fields` (in order); unknown keys are not allowed."""
    def check(path, value, source):
        prefix = f"{path}." if path else ""
        v_object(path or "value", value, source)
        out = {}
        for key, field_check in fields.items():
            if key not in value:
                if key in required:
                    raise invalid(prefix + key, "is required", source)
                continue
            out[key] = field_check(prefix + key, value[key], source)
        for key in value:
            if key not in fields:
                raise invalid(prefix + key, "is not allowed", source)
        return out
    return check


def v_date_string(path, value, source):
    v_date(path, value, source)
    return value


INSTRUCTOR_AS_PROCTOR_FIELDS = {
    "location": v_plain_string, "timeType": v_enum(INSTRUCTOR_AS_PROCTOR_TIME_TYPES), "startTime": v_date_string,
    "endTime": v_plain_string, "sid": v_plain_string, "capacity": v_int,
}
PERMITTED_FIELDS = {}
for _item in PERMITTED_ITEMS:
    PERMITTED_FIELDS[f"permitted{_item}"] = v_bool
    PERMITTED_FIELDS[f"permitted{_item}Information"] = v_nullable_string
    if _item == "Notes":
        PERMITTED_FIELDS["permittedOtherItems"] = v_nullable_string

UPDATE_FIELDS = {
    "instructorAsProctor": v_array_of(v_schema(INSTRUCTOR_AS_PROCTOR_FIELDS)),
    **PERMITTED_FIELDS,
    "examOpenDate": v_date_string, "examCloseDate": v_date_string,
    "scheduleOpenDate": v_date_string, "scheduleCloseDate": v_date_string,
    "enrollmentSid": v_sid("EN"),
    "url": v_nullable_string,
    "password": v_plain_string,
    "duration": v_int,
    "attempts": v_int,
    "requiredSoftware": v_nullable_string, "studentNotes": v_nullable_string, "proctorNotes": v_nullable_string,
    "proctorTypes": v_array_of(v_sid("TS")),
    "refConfigSid": v_sid("EC"),
    "attachments": v_array_of(v_schema({"attachmentUrl": v_plain_string, "attachmentAwsTitle": v_plain_string}),
                              min_items=1, max_items=5),
    "modalityOptions": v_object,
}
UPDATE_REQUIRED = {"instructorAsProctor", *PERMITTED_FIELDS}
# Fields a PUT replaces: absent optional ones become null (a full replacement, not a patch).
REPLACED = [key for key in UPDATE_FIELDS if key not in ("enrollmentSid", "refConfigSid")]


def _json_payload(environ) -> tuple[object, Response | None]:
    content_type = (environ.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        return None, sp_error(415, "Unsupported Media Type")
    try:
        return json.loads(read_body(environ) or b"null"), None
    except (ValueError, UnicodeDecodeError):
        return None, sp_error(400, "Invalid request payload JSON format")


def update_configuration(app, environ, decision, install_sid, course_sid, exam_sid, config_sid) -> Response:
    store = app.store
    problem = check_path(store, ["installSid", "courseSid", "examSid", "examConfigurationSid"],
                         (install_sid, course_sid, exam_sid, config_sid))
    if problem:
        return problem
    payload, problem = _json_payload(environ)
    if problem:
        return problem
    try:
        reject_unknown(query_multi(query_pairs(environ)), set())
        body = v_schema(UPDATE_FIELDS, UPDATE_REQUIRED)("", payload, "payload")
    except Invalid as error:
        return sp_invalid(error)
    with store.lock:
        config, missing = _find_configuration(store, course_sid, exam_sid, config_sid)
        if missing:
            return missing
        updated = dict(config)
        for key in REPLACED:
            updated[key] = body.get(key)
        if "enrollmentSid" in body:
            updated["enrollmentSid"] = body["enrollmentSid"]
        if "refConfigSid" in body:
            updated["referenceExamConfigurationSid"] = body["refConfigSid"]
        previous = datetime.fromisoformat(config["editDate"]).timestamp() if config.get("editDate") else 0.0
        updated["editDate"] = iso_z(max(store.now(), previous + 0.001))  # strictly later, even within one ms
        store.world.configurations[config_sid] = updated
        store.invalidate_configuration(config_sid)
        doc = store.configuration_public(updated)
    return json_response(200, doc)


# --- Create Exam ---------------------------------------------------------------------------------------------------
CREATE_CONFIGURATION_FIELDS = {
    "instructorAsProctor": v_array_of(v_schema({k: v for k, v in INSTRUCTOR_AS_PROCTOR_FIELDS.items() if k != "sid"})),
    "examOpenDate": v_date_string, "examCloseDate": v_date_string,
    "password": v_plain_string, "duration": v_int, "attempts": v_int,
    "requiredSoftware": v_nullable_string, "studentNotes": v_nullable_string,
    **PERMITTED_FIELDS,
    "proctorNotes": v_nullable_string,
    "proctorTypes": v_array_of(v_sid("TS")),
    "scheduleOpenDate": v_date_string, "scheduleCloseDate": v_date_string,
    "apiExamId": v_plain_string,
    "modalityOptions": v_object,
    "virtualCalculatorType": v_plain_string,
}
CREATE_FIELDS = {
    "title": v_plain_string,
    "type": v_enum(EXAM_TYPES),
    "useProctorManager": v_bool,
    "requireApproval": v_bool,
    "url": v_nullable_string,
    "enableAppointmentSuggestions": v_bool,
    "examDeliverySystemModule": v_plain_string,
    "configuration": v_schema(CREATE_CONFIGURATION_FIELDS),
    "description": v_nullable_string,
    "contactUserSid": v_sid("US"),
    "isLimitedScope": v_bool,
    "status": v_enum(EXAM_STATUSES),
}
CREATE_REQUIRED = {"title", "type", "useProctorManager", "requireApproval", "enableAppointmentSuggestions",
                   "examDeliverySystemModule", "configuration"}


def create_exam(app, environ, decision, install_sid, course_sid) -> Response:
    store = app.store
    problem = check_path(store, ["installSid", "courseSid"], (install_sid, course_sid))
    if problem:
        return problem
    payload, problem = _json_payload(environ)
    if problem:
        return problem
    try:
        reject_unknown(query_multi(query_pairs(environ)), set())
        body = v_schema(CREATE_FIELDS, CREATE_REQUIRED)("", payload, "payload")
        # "Online for web-based exams (requires URL and password)".
        if body["type"] == "Online":
            if body.get("url") is None:
                raise invalid("url", "is required", "payload")
            if body["configuration"].get("password") is None:
                raise invalid("configuration.password", "is required", "payload")
    except Invalid as error:
        return sp_invalid(error)
    with store.lock:
        course = store.world.courses.get(course_sid)
        if course is None:
            return sp_error(404, "Course not found")
        now = store.now()
        rng = app.new_rng()
        exam_sid, config_sid = new_sid(rng, "EX"), new_sid(rng, "EC")
        cfg = body["configuration"]
        config = {
            "sid": config_sid, "examSid": exam_sid, "enrollmentSid": None, "referenceExamConfigurationSid": None,
            "type": "exam",
            "examOpenDate": cfg.get("examOpenDate"), "examCloseDate": cfg.get("examCloseDate"),
            "scheduleOpenDate": cfg.get("scheduleOpenDate"), "scheduleCloseDate": cfg.get("scheduleCloseDate"),
            "password": cfg.get("password"), "url": body.get("url"), "duration": cfg.get("duration"),
            "attempts": cfg.get("attempts"), "attemptsRemaining": None, "locked": False, "approved": None,
            "approvedBy": None, "requiredSoftware": cfg.get("requiredSoftware"),
            "studentNotes": cfg.get("studentNotes"),
        }
        for key in PERMITTED_FIELDS:
            config[key] = cfg.get(key, False if not (key.endswith("Information") or key == "permittedOtherItems")
                                  else None)
        config.update({
            "apiExamId": cfg.get("apiExamId"), "examSyncStatus": None,
            "virtualCalculatorType": cfg.get("virtualCalculatorType"), "synchronization": None,
            "proctorNotes": cfg.get("proctorNotes"), "proctorTypes": cfg.get("proctorTypes", []),
            "attachments": None, "examFiles": None, "instructorAsProctor": cfg.get("instructorAsProctor", []),
            "exam": None, "course": None, "enrollment": None, "createdDate": iso_z(now), "editDate": iso_z(now),
            "instructor": None, "modalityOptions": cfg.get("modalityOptions"), "updatedAutomatedSessions": None,
        })
        exam = {
            "sessionStatus": None, "sid": exam_sid, "courseSid": course_sid, "applicationInstallSid": install_sid,
            "title": body["title"], "bVirtualTitle": None, "type": body["type"],
            "description": body.get("description"), "useProctorManager": body["useProctorManager"],
            "requireApproval": body["requireApproval"],
            "enableAppointmentSuggestions": body["enableAppointmentSuggestions"], "url": body.get("url"),
            "status": body.get("status", "active"), "createdDate": iso_z(now), "editDate": iso_z(now),
            "contactUserSid": body.get("contactUserSid"), "examDeliverySystemModule": body["examDeliverySystemModule"],
            "summary": None, "pendingApprovals": 0, "openSessionEvents": 0,
            "course": {"sid": course["sid"], "title": course["title"], "code": course["code"]},
            "configuration": None, "examSession": None, "instructorName": None, "courseName": course["title"],
            "totalSessions": 0, "needsProctorSessions": 0, "scriptName": None, "systemName": None,
            "isLimitedScope": body.get("isLimitedScope", False), "platformVersion": "v3",
            "_baseConfigurationSid": config_sid,
        }
        store.world.configurations[config_sid] = config
        store.world.exams[exam_sid] = exam
        doc = store.exam_public(exam)
        doc["configuration"] = store.configuration_public(config)
    return json_response(200, doc)
