"""One table of the editable exam-configuration fields (Update Configuration reference page) and the conversions
between the upstream JSON, a normalised comparable value, the form and the PUT body.

Everything that compares two configurations (conflict detection, drift, history, the accommodation register) goes
through `normalise()`, so "changed" means the same thing everywhere. Passwords are compared by digest and never
leave this module in clear except inside the PUT/POST body.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone as dt_timezone
from typing import Any

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
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt_timezone.utc)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt_timezone.utc)


def _date_z(value: Any) -> str | None:
    parsed = parse_date(value)
    return to_utc_z(parsed) if parsed else None


def password_digest(value: str | None) -> str:
    """A stand-in for a password that can be compared and stored (never shown, never reversible)."""
    if not value:
        return ""
    if value.startswith("sha256:"):
        return value  # already a digest (a cached or history copy)
    return "sha256:" + hashlib.sha256(("proctordash-config-password:" + value).encode()).hexdigest()[:24]


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


def normalise(key: str, value: Any, *, keep_password: bool = False) -> Any:
    """The comparable form of one upstream value. Passwords become a digest unless keep_password."""
    field = BY_KEY[key]
    kind = field.kind
    if kind == "bool":
        return bool(value) if value is not None else False
    if kind == "text":
        return "" if value is None else str(value)
    if kind == "date":
        return _date_z(value)
    if kind == "int":
        try:
            return int(value) if value not in (None, "") else None
        except (TypeError, ValueError):
            return None
    if kind == "password":
        value = "" if value is None else str(value)
        return value if keep_password else password_digest(value)
    if kind == "sids":
        value = parse_jsonish(value)
        return [str(v) for v in value] if isinstance(value, list) else []
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
    safe = {k: (password_digest(v) if BY_KEY[k].kind == "password" and not str(v).startswith("sha256:") else v)
            for k, v in values.items()}
    return hashlib.sha256(json.dumps(safe, sort_keys=True, ensure_ascii=True).encode()).hexdigest()


def _same(key: str, a: Any, b: Any) -> bool:
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
        return (a if str(a).startswith("sha256:") else password_digest(a)) == (
            b if str(b).startswith("sha256:") else password_digest(b))
    return a == b


def _slots_key(slots: list[dict]) -> list:
    def minute(v):
        p = parse_date(v)
        return p.replace(second=0, microsecond=0).isoformat() if p else None

    return [(s.get("sid") or "", s.get("location") or "", s.get("timeType"), minute(s.get("startTime")),
             minute(s.get("endTime")), s.get("capacity")) for s in slots]


def changes_between(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """{key: new value} for every editable field whose value differs (new has the full set of keys)."""
    return {k: new[k] for k in new if k in BY_KEY and not _same(k, old.get(k), new[k])}


def apply_changes(raw: dict, changes: dict[str, Any]) -> dict:
    """A copy of the upstream JSON with the changes applied (slots keep the sid of the row they edit)."""
    out = dict(raw)
    out.update(changes)
    return out


def put_body(raw: dict) -> dict:
    """The complete PUT body for Update Configuration, built from a full configuration (the current upstream JSON
    with the user's changes applied). Keys the request schema does not allow (sid, locked, approved, editDate…) are
    left out; nothing the schema allows is dropped. Required booleans/texts are always present."""
    body: dict[str, Any] = {}
    for field in FIELDS:
        value = normalise(field.key, raw.get(field.key), keep_password=True)
        if field.kind == "text" and not value:
            value = None  # "string | null", and the upstream refuses an empty string: empty means null
        if field.kind in ("date", "int") and value is None:
            continue  # not nullable in the request schema: omit rather than send null
        if field.kind == "password" and value == "":
            continue
        if field.kind == "attachments" and not value:
            continue  # 1–5 elements: an empty list is not allowed, leave the key out
        body[field.key] = value
    if raw.get("enrollmentSid"):
        body["enrollmentSid"] = raw["enrollmentSid"]
    ref = raw.get("refConfigSid") or raw.get("referenceExamConfigurationSid")
    if ref:
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
        if field.kind == "password" and not value:
            continue
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


def diff_rows(old: dict[str, Any], new: dict[str, Any], keys=None) -> list[dict]:
    """[{key, label, old, new}] with display texts, for history records and comparison tables. Safe to store:
    a password change reads "•••••• (changed)"."""
    rows = []
    for key in keys if keys is not None else [f.key for f in FIELDS]:
        if key not in BY_KEY or _same(key, old.get(key), new.get(key)):
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
