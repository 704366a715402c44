"""One table of the editable exam-configuration fields (Update Configuration reference page) and the conversions
between the upstream JSON, a normalised comparable value, the form and the PUT body.

Everything that compares two configurations (conflict detection, drift, history, the accommodation register, the
form's "what did the user change") goes through `normalise()` / `same()`, so "changed" means the same thing
everywhere. Comparison ignores what a browser or an encoding changes without the user's intent: line endings
(CRLF/CR → LF), null vs empty (a null text, list or object equals an empty one), JSON key order and whitespace, the
order of proctor types, seconds of a date the form edits to the minute. Passwords are compared by digest and never
leave this module in clear except inside the PUT/POST body.

Password digests (`password_digest`) are keyed: HMAC-SHA256 under Django's SECRET_KEY ("hmac256:<key id>:<hex>"), so
a database dump alone does not give the passwords back (the upstream's passwords are short enough to brute-force any
unkeyed digest). Older rows held an unkeyed "sha256:" digest; migration exams/0007 replaced those at rest with
DIGEST_REMOVED. Both, and a digest made under a key this server no longer has, are still digests
(`is_password_digest`: never sent upstream, never put into a field), but compared with a digest made now they cannot
tell whether the password is the same: `password_match` then answers None, and each caller decides which side is
safe (`same(..., unknown=)`).

What is SENT is a different matter: `put_body(raw, changes)` sends every field the user did not change exactly as the
upstream holds it (its line endings, its nulls), and only the changed fields in the user's (normalised) form.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timezone as dt_timezone
from typing import Any

from django.conf import settings
from django.utils.crypto import salted_hmac

from proctordash.core.timezones import to_utc_z
from proctordash.core.vocabulary import PERMITTED_ITEMS

PERMITTED_LABELS = {
    "BathroomBreak": "Bathroom break", "BlankPaper": "Blank paper", "Calculator": "Calculator",
    "Dictionary": "Dictionary", "Earplugs": "Earplugs", "FormulaSheet": "Formula sheet", "Notes": "Notes",
    "Textbook": "Textbook", "Websites": "Websites",
}
PASSWORD_MASK = "••••••"


def snake(name: str) -> str:
    out = []
    for ch in name:
        if ch.isupper() and out:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


@dataclass(frozen=True)
class Field:
    key: str  # the upstream JSON key
    name: str  # the form field name (or formset prefix)
    label: str
    kind: str  # bool text date int password sids slots attachments json


def _build() -> list[Field]:
    fields: list[Field] = []
    for item in PERMITTED_ITEMS:
        label = PERMITTED_LABELS[item]
        fields.append(Field(f"permitted{item}", f"permitted_{snake(item)}", f"{label} permitted", "bool"))
        fields.append(Field(f"permitted{item}Information", f"permitted_{snake(item)}_information",
                            f"{label}: information", "text"))
    fields += [
        Field("permittedOtherItems", "permitted_other_items", "Other permitted items", "text"),
        Field("examOpenDate", "exam_open_date", "Exam opens", "date"),
        Field("examCloseDate", "exam_close_date", "Exam closes", "date"),
        Field("scheduleOpenDate", "schedule_open_date", "Scheduling opens", "date"),
        Field("scheduleCloseDate", "schedule_close_date", "Scheduling closes", "date"),
        Field("duration", "duration", "Duration (minutes)", "int"),
        Field("attempts", "attempts", "Attempts allowed", "int"),
        Field("password", "password", "Exam password", "password"),
        Field("url", "url", "Exam URL", "text"),
        Field("requiredSoftware", "required_software", "Required software", "text"),
        Field("studentNotes", "student_notes", "Notes for students", "text"),
        Field("proctorNotes", "proctor_notes", "Notes for proctors", "text"),
        Field("proctorTypes", "proctor_types", "Proctor types", "sids"),
        Field("instructorAsProctor", "slots", "Instructor-as-proctor slots", "slots"),
        Field("attachments", "attachments", "Attachments", "attachments"),
        Field("modalityOptions", "modality_options", "Modality options", "json"),
    ]
    return fields


FIELDS: list[Field] = _build()
BY_KEY = {f.key: f for f in FIELDS}
BY_NAME = {f.name: f for f in FIELDS}
# Upstream keys whose value is a date (top level and inside a slot).
DATE_KEYS = [f.key for f in FIELDS if f.kind == "date"]
# The keys of the PUT body (Update Configuration request schema), in the reference page's order of importance.
PUT_KEYS = [f.key for f in FIELDS] + ["enrollmentSid", "refConfigSid"]
# Keys of the create call's `configuration` object (Create Exam request schema): no url, attachments, sids.
CREATE_CONFIG_KEYS = [f.key for f in FIELDS if f.key not in ("url", "attachments")] + ["apiExamId",
                                                                                        "virtualCalculatorType"]


# --- parsing the upstream's values -----------------------------------------------------------------------------------
def parse_jsonish(value: Any) -> Any:
    """The reference page types attachments, instructorAsProctor and modalityOptions as strings in the response;
    accept a JSON-encoded string as well as the structure itself."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def parse_date(value: Any) -> datetime | None:
    """An aware datetime, or None for anything that is not a date every zone can show (an upstream "0001-01-01" would
    overflow when moved to a zone west of UTC)."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except (ValueError, OverflowError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt_timezone.utc)
    try:
        if not 2 <= parsed.astimezone(dt_timezone.utc).year <= 9998:
            return None
    except OverflowError:
        return None
    return parsed


def _date_z(value: Any) -> str | None:
    parsed = parse_date(value)
    return to_utc_z(parsed) if parsed else None


# --- password digests ------------------------------------------------------------------------------------------------
PASSWORD_DIGEST_PREFIX = "hmac256:"  # "hmac256:<key id>:<64 hex>", keyed by SECRET_KEY
LEGACY_DIGEST_PREFIX = "sha256:"  # before migration exams/0007: unkeyed, recognised (never made)
DIGEST_REMOVED = "hmac256:removed"  # what migration exams/0007 left in place of a legacy digest: matches nothing
PASSWORD_KEY_SALT = "proctordash.exams.password"


def is_password_digest(value: Any) -> bool:
    """Whether a stored password value is a digest (of any generation, or DIGEST_REMOVED) rather than a password:
    such a value is never sent upstream and never shown in a field."""
    return isinstance(value, str) and value.startswith((PASSWORD_DIGEST_PREFIX, LEGACY_DIGEST_PREFIX))


@functools.lru_cache(maxsize=16)
def _key_id(secret: str) -> str:
    """A short public name of a key (an HMAC of a constant under it): tells which key made a digest, reveals nothing
    of the key nor of any password."""
    return salted_hmac(PASSWORD_KEY_SALT + ".key-id", "key-id", secret=secret, algorithm="sha256").hexdigest()[:8]


def _keyed_digest(value: str, secret: str) -> str:
    mac = salted_hmac(PASSWORD_KEY_SALT, value, secret=secret, algorithm="sha256").hexdigest()
    return f"{PASSWORD_DIGEST_PREFIX}{_key_id(secret)}:{mac}"


def _legacy_digest(value: str) -> str:
    """The unkeyed digest stored before exams/0007; computed only to compare a password in hand with one."""
    return LEGACY_DIGEST_PREFIX + hashlib.sha256(("proctordash-config-password:" + value).encode()).hexdigest()[:24]


def _digest_key_id(digest: str) -> str:
    """The key id of an "hmac256:" digest ("" for DIGEST_REMOVED, a legacy digest or anything malformed)."""
    parts = digest[len(PASSWORD_DIGEST_PREFIX):].split(":")
    return parts[0] if digest.startswith(PASSWORD_DIGEST_PREFIX) and len(parts) == 2 and len(parts[0]) == 8 else ""


def _secret_for(key_id: str) -> str | None:
    """SECRET_KEY or the one of SECRET_KEY_FALLBACKS (Django's way to rotate the key) that made digests of `key_id`."""
    if not key_id:
        return None
    for secret in [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]:
        if _key_id(secret) == key_id:
            return secret
    return None


def password_digest(value: str | None) -> str:
    """A stand-in for a password that can be compared and stored (never shown, never reversible without SECRET_KEY).
    A digest (a cached or history copy) is returned as it is."""
    if not value:
        return ""
    if is_password_digest(value):
        return value
    return _keyed_digest(value, settings.SECRET_KEY)


def password_match(a: Any, b: Any) -> bool | None:
    """Whether two password values (each clear, a digest, "" or None for no password) are the same password; None
    when that cannot be told: a digest under a key this server no longer has, DIGEST_REMOVED, or a legacy digest
    compared with a keyed one. A clear password compares exactly with a digest of any generation whose key is known
    (the legacy one needs none), so comparisons that have the live password in hand are never "unknown"."""
    a = "" if a is None else str(a)
    b = "" if b is None else str(b)
    if a == b:
        return True  # the same value (a copy of a stored digest included: DIGEST_REMOVED matches only its own copy)
    if not a or not b:
        return False  # a password and none
    a_digest, b_digest = is_password_digest(a), is_password_digest(b)
    if not a_digest and not b_digest:
        return False
    if a_digest and b_digest:
        if a.startswith(LEGACY_DIGEST_PREFIX) and b.startswith(LEGACY_DIGEST_PREFIX):
            return False  # both unkeyed: equal passwords give equal digests
        key = _digest_key_id(a)
        return False if key and key == _digest_key_id(b) else None
    digest, clear = (a, b) if a_digest else (b, a)
    if digest.startswith(LEGACY_DIGEST_PREFIX):
        return hmac.compare_digest(_legacy_digest(clear), digest)
    secret = _secret_for(_digest_key_id(digest))
    if secret is None:
        return None
    return hmac.compare_digest(_keyed_digest(clear, secret), digest)


def _norm_slot(slot: Any) -> dict | None:
    if not isinstance(slot, dict):
        return None
    capacity = slot.get("capacity")
    try:
        capacity = int(capacity) if capacity not in (None, "") else None
    except (TypeError, ValueError):
        capacity = None
    out = {
        "location": slot.get("location") or "",
        "timeType": slot.get("timeType") or "between",
        "startTime": _date_z(slot.get("startTime")),
        "endTime": _date_z(slot.get("endTime")),
        "capacity": capacity,
    }
    if slot.get("sid"):
        out["sid"] = slot["sid"]
    return out


def lf(text: str) -> str:
    """Line endings as LF: browsers submit a textarea's line breaks as CRLF (HTML standard), htmx as LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def normalise(key: str, value: Any, *, keep_password: bool = False) -> Any:
    """The comparable form of one upstream (or form) value. Passwords become a digest unless keep_password."""
    field = BY_KEY[key]
    kind = field.kind
    if kind == "bool":
        return bool(value) if value is not None else False
    if kind == "text":
        return "" if value is None else lf(value if isinstance(value, str) else str(value))
    if kind == "date":
        return _date_z(value)
    if kind == "int":
        if isinstance(value, bool) or value in (None, ""):
            return None
        try:
            number = float(value) if not isinstance(value, int) else value
            return int(number) if number == int(number) else None
        except (TypeError, ValueError, OverflowError):
            return None
    if kind == "password":
        value = "" if value is None else str(value)
        return value if keep_password else password_digest(value)
    if kind == "sids":
        # A set: the form lists proctor types in its own order, and the upstream's order carries no meaning.
        value = parse_jsonish(value)
        return sorted({str(v) for v in value if v is not None}) if isinstance(value, list) else []
    if kind == "slots":
        value = parse_jsonish(value)
        slots = [_norm_slot(s) for s in value] if isinstance(value, list) else []
        return [s for s in slots if s is not None]
    if kind == "attachments":
        value = parse_jsonish(value)
        items = value if isinstance(value, list) else []
        return [{"attachmentUrl": a.get("attachmentUrl") or "", "attachmentAwsTitle": a.get("attachmentAwsTitle") or ""}
                for a in items if isinstance(a, dict)]
    if kind == "json":
        value = parse_jsonish(value)
        return value if isinstance(value, dict) else {}
    raise ValueError(kind)


def values_of(raw: dict, *, keep_password: bool = False) -> dict[str, Any]:
    """All editable fields of an upstream configuration, normalised."""
    return {f.key: normalise(f.key, raw.get(f.key), keep_password=keep_password) for f in FIELDS}


def values_hash(values: dict[str, Any]) -> str:
    """The version token carried in the form: changes whenever any editable field changes upstream."""
    safe = {k: (password_digest(None if v is None else str(v)) if BY_KEY[k].kind == "password" else v)
            for k, v in values.items()}
    return hashlib.sha256(json.dumps(safe, sort_keys=True, ensure_ascii=True).encode()).hexdigest()


def same(key: str, a: Any, b: Any, *, unknown: bool = False) -> bool:
    """Whether two values of one field mean the same (either side raw upstream, normalised, or from the form).

    `unknown`: the answer when two passwords cannot be compared (password_match gives None: a digest made under
    another key, or removed by migration 0007). The default counts them as different, the safe side where a
    password the user typed must never be dropped; a caller for whom "different" would report something false (drift)
    passes True and says why."""
    kind = BY_KEY[key].kind
    if kind == "date":
        # The form edits to the minute: a base value with seconds is unchanged when the minute matches.
        pa, pb = parse_date(a), parse_date(b)
        if pa is None or pb is None:
            return pa is None and pb is None
        return pa.replace(second=0, microsecond=0) == pb.replace(second=0, microsecond=0)
    if kind == "slots":
        return _slots_key(a) == _slots_key(b)
    if kind == "password":
        match = password_match(a, b)
        return unknown if match is None else match
    # Normalising again is harmless (normalise is idempotent) and makes values normalised by an older rule (a
    # snapshot in an open form, a cached copy) compare by today's rule.
    return normalise(key, a) == normalise(key, b)


_same = same  # the name other modules used before it was public


def _slots_key(slots: Any) -> list:
    slots = normalise("instructorAsProctor", slots)

    def minute(v):
        p = parse_date(v)
        return p.replace(second=0, microsecond=0).isoformat() if p else None

    return [(s.get("sid") or "", s.get("location") or "", s.get("timeType"), minute(s.get("startTime")),
             minute(s.get("endTime")), s.get("capacity")) for s in slots]


def changes_between(old: dict[str, Any], new: dict[str, Any], *, unknown: bool = False) -> dict[str, Any]:
    """{key: new value} for every editable field whose value differs in meaning (new has the full set of keys);
    `unknown` as in same()."""
    return {k: new[k] for k in new if k in BY_KEY and not same(k, old.get(k), new[k], unknown=unknown)}


def apply_changes(raw: dict, changes: dict[str, Any]) -> dict:
    """A copy of the upstream JSON with the changes applied (slots keep the sid of the row they edit)."""
    out = dict(raw)
    out.update(changes)
    return out


_OMIT = object()
SLOT_KEYS = ("location", "timeType", "startTime", "endTime", "sid", "capacity")


def _wire(kind: str, value: Any) -> Any:
    """One value in the shape the Update Configuration request schema accepts, changing nothing else: text keeps
    its line endings, a date string in UTC keeps its spelling. _OMIT where the key must be left out (in a full
    replacement an absent optional key becomes null upstream, which is what a null value means)."""
    if kind == "bool":
        return value if isinstance(value, bool) else bool(value) if value is not None else False
    if kind == "text":
        if value is None or value == "":
            return None  # "string | null", and the upstream refuses an empty string: empty means null
        return value if isinstance(value, str) else str(value)
    if kind == "date":
        if isinstance(value, str) and value.endswith("Z"):
            return value  # what the upstream holds, as it spells it (even a date no page can show)
        return _date_z(value) or _OMIT  # not nullable in the request schema
    if kind == "int":
        number = normalise("duration", value)
        return _OMIT if number is None else number
    if kind == "password":
        return _OMIT if value in (None, "") else str(value)
    if kind == "sids":
        value = parse_jsonish(value)
        return [str(v) for v in value if v is not None] if isinstance(value, list) else _OMIT
    if kind == "slots":
        value = parse_jsonish(value)
        if not isinstance(value, list):
            return []  # required
        out = []
        for slot in value:
            if not isinstance(slot, dict):
                continue
            row = {k: slot[k] for k in SLOT_KEYS if k in slot and slot[k] is not None}
            row.setdefault("timeType", "between")
            if "capacity" in row:
                capacity = normalise("duration", row["capacity"])
                row["capacity"] = capacity if capacity is not None else row["capacity"]
            for key in ("startTime", "endTime"):
                if key in row and not (isinstance(row[key], str) and row[key].endswith("Z")):
                    row[key] = _date_z(row[key]) or row[key]
            if not row.get("sid"):
                row.pop("sid", None)
            out.append(row)
        return out
    if kind == "attachments":
        items = normalise("attachments", value)
        return items or _OMIT  # 1–5 elements: an empty list is not allowed, leave the key out
    if kind == "json":
        value = parse_jsonish(value)
        return value if isinstance(value, dict) else _OMIT
    raise ValueError(kind)


def put_body(raw: dict, changes: dict[str, Any] | None = None) -> dict:
    """The complete PUT body for Update Configuration: the current upstream configuration `raw` with `changes`
    ({key: the user's new value}) on top.

    Fields not in `changes` travel exactly as the upstream holds them (their line endings, their nulls: a null
    object is left out, which a full replacement reads as null); changed ones in the user's normalised form
    (LF line endings). Keys the request schema does not allow (sid, locked, approved, editDate…) are left out;
    nothing the schema allows is dropped; required booleans/texts are always present. `enrollmentSid` and
    `refConfigSid` are copied only when they are well-formed SIDs (an odd upstream value is not echoed back)."""
    from proctordash.core.vocabulary import is_sid

    changes = changes or {}
    if is_password_digest(changes.get("password")):
        # A digest is not a password: a change carrying one (a stored job's) keeps the upstream's current password.
        changes = {k: v for k, v in changes.items() if k != "password"}
    body: dict[str, Any] = {}
    for field in FIELDS:
        if field.key in changes:
            value = normalise(field.key, changes[field.key], keep_password=True)
            if field.kind == "sids":
                value = [str(v) for v in (parse_jsonish(changes[field.key]) or []) if v is not None]
            wired = _wire(field.kind, value)
        else:
            wired = _wire(field.kind, raw.get(field.key))
        if wired is not _OMIT:
            body[field.key] = wired
    enrollment = raw.get("enrollmentSid")
    if isinstance(enrollment, str) and is_sid("enrollment", enrollment):
        body["enrollmentSid"] = enrollment
    ref = raw.get("refConfigSid") or raw.get("referenceExamConfigurationSid")
    if isinstance(ref, str) and is_sid("exam_configuration", ref):
        body["refConfigSid"] = ref
    return body


def create_configuration_body(values: dict[str, Any], *, api_exam_id: str, virtual_calculator_type: str = "") -> dict:
    """The `configuration` object of the Create Exam body from form values (password kept)."""
    body: dict[str, Any] = {}
    for key in CREATE_CONFIG_KEYS:
        if key not in BY_KEY:
            continue
        field = BY_KEY[key]
        value = values.get(key)
        if field.kind in ("date", "int") and value is None:
            continue
        if field.kind == "password" and (not value or is_password_digest(value)):
            continue  # no password, or a digest (never sent as one)
        if field.kind == "slots":
            value = [{k: v for k, v in s.items() if k != "sid"} for s in value]
        if field.kind == "text" and not value:
            value = None  # the upstream refuses an empty string
        body[key] = value
    body["apiExamId"] = api_exam_id
    if virtual_calculator_type:
        body["virtualCalculatorType"] = virtual_calculator_type
    return body


# --- showing values --------------------------------------------------------------------------------------------------
def display(key: str, value: Any) -> str:
    """A short human text for one normalised value (used in diffs and history). Passwords are never shown."""
    from proctordash.core.timezones import dashboard_zone, format_in_zone

    kind = BY_KEY[key].kind if key in BY_KEY else "text"
    if kind == "password":
        return f"{PASSWORD_MASK} (set)" if value else "(none)"
    if value in (None, "", [], {}):
        return "(none)"
    if kind == "bool":
        return "yes" if value else "no"
    if kind == "date":
        parsed = parse_date(value)
        return format_in_zone(parsed, dashboard_zone()) if parsed else str(value)
    if kind == "sids":
        return ", ".join(value)
    if kind == "slots":
        parts = []
        for s in value:
            start, end = parse_date(s.get("startTime")), parse_date(s.get("endTime"))
            zone = dashboard_zone()
            parts.append(f"{s.get('location') or '?'} {format_in_zone(start, zone) if start else '?'}–"
                         f"{format_in_zone(end, zone) if end else '?'} ×{s.get('capacity')}")
        return "; ".join(parts)
    if kind == "attachments":
        return "; ".join(f"{a['attachmentAwsTitle'] or '(untitled)'} <{a['attachmentUrl']}>" for a in value)
    if kind == "json":
        return json.dumps(value, sort_keys=True)
    return str(value)


def diff_rows(old: dict[str, Any], new: dict[str, Any], keys=None, *, unknown: bool = False) -> list[dict]:
    """[{key, label, old, new}] with display texts, for history records and comparison tables. Safe to store:
    a password change reads "•••••• (changed)". `unknown` as in same()."""
    rows = []
    for key in keys if keys is not None else [f.key for f in FIELDS]:
        if key not in BY_KEY or same(key, old.get(key), new.get(key), unknown=unknown):
            continue
        field = BY_KEY[key]
        if field.kind == "password":
            rows.append({"key": key, "label": field.label, "old": display(key, old.get(key)),
                         "new": f"{PASSWORD_MASK} (changed)" if new.get(key) else "(none)"})
        else:
            rows.append({"key": key, "label": field.label, "old": display(key, old.get(key)),
                         "new": display(key, new.get(key))})
    return rows


def masked_raw(raw: dict) -> dict:
    """The upstream JSON safe to store: the password replaced by its digest."""
    out = dict(raw)
    if "password" in out:
        out["password"] = password_digest(out.get("password"))
    return out
