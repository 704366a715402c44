"""Form parts for an exam configuration, shared by the edit page and the create page (reused, not copied).

`ConfigurationBundle` = `ConfigurationForm` + the instructor-as-proctor slot formset + the attachment formset.
Dates are entered in the dashboard's time zone (DASHBOARD_TIME_ZONE) and leave as UTC with a trailing Z.
Every rule names its field; cross-field rules attach the error to the field the user must change.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.utils import timezone

from proctordash.core.timezones import dashboard_zone, to_utc_z
from proctordash.core.vocabulary import (
    EXAM_STATUSES,
    EXAM_TYPES,
    INSTRUCTOR_AS_PROCTOR_TIME_TYPES,
    PERMITTED_ITEMS,
    SID_PATTERNS,
)
from proctordash.exams import fields as F_

MAX_DURATION = 7 * 24 * 60  # minutes: a week is already far more than any proctored sitting
MAX_ATTEMPTS = 100
EARLIEST_YEAR, LATEST_YEAR = 2000, 2100
INPUT_FORMAT = "%Y-%m-%dT%H:%M"


class DashboardDateTimeField(forms.DateTimeField):
    """A <input type=datetime-local> read in the dashboard's zone (whatever zone the request runs in).

    The browser shows the wall-clock time in its own locale format, but the time itself is the dashboard's: every
    label names the zone (`zone_label`) and the help line under the input spells the value out with its zone
    abbreviation (`_field.html`)."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format=INPUT_FORMAT)
    input_formats = [INPUT_FORMAT, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]
    is_dashboard_date = True

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format=INPUT_FORMAT)

    @property
    def zone_label(self) -> str:
        return zone_label()

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, datetime):
            parsed = value
        else:
            parsed = None
            for fmt in self.input_formats:
                try:
                    parsed = datetime.strptime(str(value).strip(), fmt)
                    break
                except ValueError:
                    continue
            if parsed is None:
                raise ValidationError("Enter a date and time, for example 2026-03-01 09:00.", code="invalid")
        if timezone.is_naive(parsed):
            parsed = parsed.replace(tzinfo=dashboard_zone())
        if not EARLIEST_YEAR <= parsed.year <= LATEST_YEAR:
            raise ValidationError(f"Enter a year between {EARLIEST_YEAR} and {LATEST_YEAR}.", code="range")
        return parsed

    def prepare_value(self, value):
        # A string is what the user typed (bound data): show it back exactly as typed.
        if isinstance(value, datetime):
            return value.astimezone(dashboard_zone()).strftime(INPUT_FORMAT)
        return value


def zone_label() -> str:
    """The dashboard's zone as a label reads it: "Chicago time", "UTC"."""
    name = str(dashboard_zone())
    if name in ("UTC", "Etc/UTC", "GMT"):
        return "UTC"
    return name.rsplit("/", 1)[-1].replace("_", " ") + " time"


def input_text(value: str) -> str:
    """What a browser sends for an <input> showing `value`: its value cannot hold line breaks (they are stripped)."""
    return F_.lf(value or "").replace("\n", "")


def password_alt(password: str) -> str:
    """The digest of a password as a password box shows (and sends) it: line breaks stripped; "empty" for none."""
    return F_.password_digest(input_text(password)) or "empty"


def date_text(value) -> str:
    """The datetime-local text a date field shows for an upstream date (dashboard zone, to the minute)."""
    parsed = F_.parse_date(value)
    return parsed.astimezone(dashboard_zone()).strftime(INPUT_FORMAT) if parsed else ""


def _sid_parts(text: str) -> list[str]:
    return [part for part in text.replace(",", " ").split() if part]


class ProctorTypesField(forms.Field):
    """Proctor types as checkboxes labelled by name (`choices`: [(sid, label)], learned from synced data; the SID is
    the fallback label) plus `proctor_types_other` for a type not listed. Any well-formed TS SID is accepted (a
    checkbox value or typed), so a type that is not listed is never lost."""

    widget = forms.CheckboxSelectMultiple

    def __init__(self, *, choices=(), **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.choices = list(choices)

    @property
    def choices(self):
        return self._choices

    @choices.setter
    def choices(self, value):
        self._choices = list(value)
        self.widget.choices = self._choices

    def to_python(self, value):
        if value in self.empty_values:
            return []
        if isinstance(value, str):
            value = _sid_parts(value)
        return [str(v).strip() for v in value if str(v).strip()]

    def validate(self, value):
        bad = [v for v in value if not SID_PATTERNS["proctor_type"].fullmatch(v)]
        if bad:
            raise ValidationError(
                f"“{bad[0][:40]}” is not a proctor type SID: 'TS' followed by 32 lowercase hex digits.", code="pattern")

    def has_changed(self, initial, data):
        return sorted(set(initial or [])) != sorted(set(self.to_python(data)))


def proctor_type_choices(options, selected) -> list[tuple[str, str]]:
    """Choices for ProctorTypesField: the known options (sid, label) plus any selected SID not among them."""
    out = [(sid, label) for sid, label in options]
    known = {sid for sid, _ in out}
    for sid in selected or []:
        sid = str(sid)
        if sid in known or not sid:
            continue
        if SID_PATTERNS["proctor_type"].fullmatch(sid):
            out.append((sid, f"{sid[:6]}…{sid[-4:]}"))  # not named by the synced data: the SID is the label
        else:  # an odd upstream value: shown (and kept) as it is, so an untouched save does not drop it
            out.append((sid, f"Unrecognised proctor type “{sid[:40]}”"))
        known.add(sid)
    return out


# --- modality options: a field per known key, an "advanced (JSON)" box for the rest ----------------------------------
MODALITY_KINDS = ("bool", "number", "text")


def modality_kind(value: Any) -> str | None:
    """The field kind that can show `value` exactly, or None (it then lives in the advanced JSON box)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)) and value == value and value not in (float("inf"), float("-inf")):
        return "number"
    if isinstance(value, str) and value and "\n" not in value and "\r" not in value and value == value.strip():
        return "text"
    return None


def modality_key_ok(key) -> bool:
    """A key a field can carry (in a hidden input) without the browser changing it."""
    return isinstance(key, str) and 0 < len(key) <= 200 and "\n" not in key and "\r" not in key


def humanise_key(key: str) -> str:
    words = F_.snake(key.replace("-", "_")).replace("_", " ").split()
    return (" ".join(words) or key).capitalize()


def _number(text: str):
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    value = float(text)  # ValueError: not a number
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(text)
    return value


def _text(label: str, *, rows: int = 0, max_length: int = 5000, help_text: str = "") -> forms.CharField:
    widget = forms.Textarea(attrs={"rows": rows}) if rows else forms.TextInput()
    return forms.CharField(label=label, required=False, strip=False, max_length=max_length, widget=widget,
                           help_text=help_text)


class ConfigurationForm(forms.Form):
    """The scalar fields of a configuration (Update Configuration body). mode="create" leaves out the url (the
    Create Exam call takes it at the exam level).

    `base` (the normalised values the form was opened with, password as a digest) makes the form compare before it
    validates: a field whose submitted text means the base value (fields.same after reading it the way the browser
    sent it) is unchanged — it takes the base value and is never an error, whatever the upstream holds (an
    over-long duration, a URL without a scheme). Cross-field rules run only when one of their fields changed.
    `password_shown=False` (a cached copy: the password is not known) reads an empty password box as "keep"."""

    def __init__(self, *args, mode: str = "update", base: dict | None = None, password_shown: bool = True,
                 password_alt: str = "", proctor_types=(), modality_keys: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.mode = mode
        self.base = base
        self.password_shown = password_shown
        self.password_alt = password_alt  # digest of the password as a password box shows it (no line breaks)
        self.unchanged: set[str] = set()
        for item in PERMITTED_ITEMS:
            label = F_.PERMITTED_LABELS[item]
            name = f"permitted_{F_.snake(item)}"
            self.fields[name] = forms.BooleanField(label=f"{label} permitted", required=False)
            self.fields[f"{name}_information"] = _text(f"{label}: information for students and proctors",
                                                       max_length=2000)
            self.fields[f"{name}_information"].widget.attrs["placeholder"] = "Information for students and proctors"
        self.fields["permitted_other_items"] = _text("Other permitted items", rows=2, max_length=2000)
        self.fields["exam_open_date"] = DashboardDateTimeField(label="Exam opens")
        self.fields["exam_close_date"] = DashboardDateTimeField(label="Exam closes")
        self.fields["schedule_open_date"] = DashboardDateTimeField(label="Scheduling opens")
        self.fields["schedule_close_date"] = DashboardDateTimeField(label="Scheduling closes")
        self.fields["duration"] = forms.IntegerField(
            label="Duration (minutes)", required=False, min_value=1, max_value=MAX_DURATION,
            error_messages={"min_value": "Duration must be at least 1 minute.",
                            "max_value": f"Duration must be at most {MAX_DURATION} minutes."})
        self.fields["attempts"] = forms.IntegerField(
            label="Attempts allowed", required=False, min_value=1, max_value=MAX_ATTEMPTS,
            error_messages={"min_value": "Attempts must be at least 1.",
                            "max_value": f"Attempts must be at most {MAX_ATTEMPTS}."})
        self.fields["password"] = forms.CharField(
            label="Exam password", required=False, strip=False, max_length=200,
            widget=forms.PasswordInput(render_value=True, attrs={"autocomplete": "off", "data-password": ""}))
        if not password_shown:
            self.fields["password"].help_text = ("Not shown: this page is built from a saved copy. Leave it empty to "
                                                 "keep the current password, or type a new one.")
            self.fields["password"].widget.attrs["placeholder"] = "unchanged"
        if mode == "update":
            self.fields["url"] = forms.URLField(label="Exam URL", required=False, max_length=2000,
                                                assume_scheme="https")
        self.fields["required_software"] = _text("Required software", rows=2)
        self.fields["student_notes"] = _text("Notes for students", rows=3)
        self.fields["proctor_notes"] = _text("Notes for proctors", rows=3)
        self.fields["proctor_types"] = ProctorTypesField(label="Proctor types", choices=proctor_types)
        self.fields["proctor_types_other"] = forms.CharField(
            label="Other proctor type SIDs", required=False, max_length=2000,
            widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
            help_text="For a type not listed: TS followed by 32 hex digits; separate several with spaces.")
        # Modality options: one field per known key (kind from the value), the rest as JSON. A bound form uses the
        # rows the page was rendered with (keys and kinds travel in hidden inputs), so a key learned after the page
        # was opened cannot shift them.
        rows = self._submitted_modality_rows() if self.is_bound else sorted((modality_keys or {}).items())
        self.modality_keys = {key: kind for key, kind in rows}
        self.modality_names: list[tuple[str, str, str]] = []  # (field name, key, kind)
        for i, (key, kind) in enumerate(rows):
            name = f"modality_{i}"
            self.fields[f"{name}_key"] = forms.CharField(required=False, widget=forms.HiddenInput, max_length=200)
            self.fields[f"{name}_kind"] = forms.CharField(required=False, widget=forms.HiddenInput, max_length=10)
            self.initial.setdefault(f"{name}_key", key)
            self.initial.setdefault(f"{name}_kind", kind)
            label = humanise_key(key)
            if kind == "bool":
                field = forms.ChoiceField(label=label, required=False,
                                          choices=[("", "— not set —"), ("true", "Yes"), ("false", "No")])
            elif kind == "number":
                field = forms.CharField(label=label, required=False, max_length=50,
                                        widget=forms.TextInput(attrs={"inputmode": "decimal"}))
            else:
                field = forms.CharField(label=label, required=False, max_length=2000, strip=False)
            field.help_text = f"Key “{key}”; empty: not set."
            self.fields[name] = field
            self.modality_names.append((name, key, kind))
        self.fields["modality_options"] = forms.JSONField(
            label="Modality options: advanced (JSON)", required=False, initial=dict,
            widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
            help_text="Any other options, as a JSON object ({} for none).")

    def _submitted_modality_rows(self) -> list[tuple[str, str]]:
        rows: list[tuple[str, str]] = []  # index i = the data's modality_<i>
        for i in range(100):
            key = self.data.get(self.add_prefix(f"modality_{i}_key"))
            if key is None:
                break
            kind = self.data.get(self.add_prefix(f"modality_{i}_kind")) or "text"
            rows.append((str(key)[:200], kind if kind in MODALITY_KINDS else "text"))
        return rows

    # -- reading what the browser sent -------------------------------------------------------------------------
    def _unchanged(self, name: str, bf) -> bool:
        """Whether the submitted value of one field means the base value (so it is not the user's change): the text
        a browser sends for the rendered base value (a textarea's line endings as CRLF or LF, an <input> without
        line breaks, a URL trimmed), or anything fields.same reads as equal."""
        if self.base is None:
            return False
        field = F_.BY_NAME.get(name)
        data = bf.data
        if name in ("proctor_types", "proctor_types_other"):
            chosen = self.fields["proctor_types"].to_python(self._bound_items_data("proctor_types"))
            chosen += _sid_parts(self.data.get(self.add_prefix("proctor_types_other"), "") or "")
            return F_.same("proctorTypes", self.base.get("proctorTypes"), chosen)
        if field is None or field.key not in self.base or field.kind in ("json", "sids", "slots", "attachments"):
            return False  # modality options are compared as a whole in clean()
        base = self.base.get(field.key)
        kind = field.kind
        text = F_.lf(data) if isinstance(data, str) else data
        try:
            if kind == "bool":
                return bool(data) == bool(base)
            if kind == "text":
                base_text = F_.lf(base or "")
                if name == "url":
                    return (text or "").strip() == input_text(base_text).strip()
                return (text or "") in (base_text, input_text(base_text))
            if kind == "int":
                if (text or "").strip() == "":
                    return base is None
                return base is not None and int(str(text).strip()) == base
            if kind == "date":
                if (text or "").strip() == "":
                    return base is None
                return (text or "").strip() == date_text(base) or F_.same(
                    field.key, base, to_utc_z(self.fields[name].to_python(text)))
            if kind == "password":
                if not self.password_shown and (data or "") == "":
                    return True
                # A base digest that cannot be compared (made under another key, or removed by migration 0007)
                # counts the submitted text as a change (same()'s default): a password the user typed is never
                # dropped, and the save's conflict check refuses to send it over a password changed meanwhile.
                return F_.same("password", base, data or "") or self._matches_password_alt(data or "")
        except (ValidationError, ValueError, TypeError, OverflowError):
            return False
        return False

    def _matches_password_alt(self, data: str) -> bool:
        """The submitted password is the upstream's as a password box shows it (line breaks stripped)."""
        if not self.password_alt:
            return False
        typed = input_text(data)
        if self.password_alt == "empty":
            return typed == ""
        return F_.password_match(typed, self.password_alt) is True

    def _bound_items_data(self, name: str):
        return self.fields[name].widget.value_from_datadict(self.data, self.files, self.add_prefix(name))

    def _base_python(self, name: str):
        field = F_.BY_NAME.get(name)
        if name == "proctor_types":
            return list(self.base.get("proctorTypes") or [])
        if name == "proctor_types_other":
            return ""
        value = self.base.get(field.key)
        if field.kind == "date":
            return F_.parse_date(value)
        return value

    def _clean_fields(self):
        for name, bf in self._bound_items():
            if self._unchanged(name, bf):
                self.cleaned_data[name] = self._base_python(name)
                self.unchanged.add(name)
                continue
            try:
                self.cleaned_data[name] = bf.field._clean_bound_field(bf)
                if hasattr(self, f"clean_{name}"):
                    self.cleaned_data[name] = getattr(self, f"clean_{name}")()
            except ValidationError as e:
                self.add_error(name, e)

    def clean_password(self):
        value = self.cleaned_data.get("password")
        if F_.is_password_digest(value):
            # ProctorDash would read it as a stored stand-in of a password and never send it.
            raise ValidationError(
                f"An exam password cannot begin with “{F_.PASSWORD_DIGEST_PREFIX}” or “{F_.LEGACY_DIGEST_PREFIX}”: "
                "ProctorDash marks its stored stand-ins of passwords that way. Choose another password.",
                code="reserved")
        return value

    def clean_proctor_types_other(self):
        value = _sid_parts(self.cleaned_data.get("proctor_types_other") or "")
        bad = [v for v in value if not SID_PATTERNS["proctor_type"].fullmatch(v)]
        if bad:
            raise ValidationError(
                f"“{bad[0][:40]}” is not a proctor type SID: 'TS' followed by 32 lowercase hex digits.", code="pattern")
        return " ".join(value)

    def clean_modality_options(self):
        value = self.cleaned_data.get("modality_options")
        if value in (None, ""):
            return {}
        if not isinstance(value, dict):
            raise ValidationError("Modality options must be a JSON object, for example {}.", code="type")
        return value

    def _modality_unchanged(self) -> bool:
        """The modality fields and the JSON box, read leniently, say the base options (key order, whitespace of
        the JSON and the spelling of a number do not count)."""
        out: dict[str, Any] = {}
        for name, key, kind in self.modality_names:
            text = self.data.get(self.add_prefix(name), "")
            if text in (None, "") or not key:
                continue
            try:
                out[key] = (text == "true") if kind == "bool" else _number(text) if kind == "number" else text
            except ValueError:
                return False
        raw_json = self.data.get(self.add_prefix("modality_options"), "")
        try:
            advanced = json.loads(raw_json) if str(raw_json).strip() else {}
        except ValueError:
            return False
        if not isinstance(advanced, dict) or any(k in out for k in advanced):
            return False
        return F_.same("modalityOptions", self.base.get("modalityOptions"), {**advanced, **out})

    def modality_value(self) -> dict | None:
        """The modality options the form says (fields + advanced JSON), or None when they are invalid (the errors
        are on the form then)."""
        out: dict[str, Any] = {}
        ok = True
        for name, key, kind in self.modality_names:
            text = self.data.get(self.add_prefix(name), "") if self.is_bound else ""
            if text in (None, "") or not key:
                continue
            if kind == "bool":
                if text not in ("true", "false"):
                    self.add_error(name, "Choose Yes, No or “not set”.")
                    ok = False
                    continue
                out[key] = text == "true"
            elif kind == "number":
                try:
                    out[key] = _number(text)
                except ValueError:
                    self.add_error(name, f"{humanise_key(key)}: enter a number, for example 2 or 1.5.")
                    ok = False
            else:
                out[key] = text
        advanced = self.cleaned_data.get("modality_options")
        if "modality_options" in self.errors:
            return None
        for key in (advanced or {}):
            if key in out or key in self.modality_keys:
                if key in out:
                    self.add_error("modality_options", f"“{key[:60]}” is also a field above: set it there, or "
                                                       "remove it from the JSON.")
                    ok = False
        if not ok:
            return None
        return {**(advanced or {}), **out}

    def clean(self):
        data = super().clean()
        if self.base is not None and "modalityOptions" in self.base and self._modality_unchanged():
            for name in [n for n in self.errors if n == "modality_options" or n.startswith("modality_")]:
                del self._errors[name]
            data["modality_value"] = self.base["modalityOptions"]
            self.unchanged.add("modality_options")
        else:
            modality = self.modality_value()
            if modality is not None:
                data["modality_value"] = modality
        changed = lambda *names: any(n not in self.unchanged for n in names)  # noqa: E731
        opens, closes = data.get("exam_open_date"), data.get("exam_close_date")
        s_opens, s_closes = data.get("schedule_open_date"), data.get("schedule_close_date")
        if opens and closes and closes <= opens and changed("exam_open_date", "exam_close_date"):
            self.add_error("exam_close_date", "The exam must close after it opens.")
        if s_opens and s_closes and s_closes <= s_opens and changed("schedule_open_date", "schedule_close_date"):
            self.add_error("schedule_close_date", "Scheduling must close after it opens.")
        if (s_closes and closes and s_closes > closes and "schedule_close_date" not in self.errors
                and changed("schedule_close_date", "exam_close_date")):
            self.add_error("schedule_close_date", "Scheduling must close no later than the exam closes.")
        if (s_opens and closes and s_opens >= closes and "schedule_open_date" not in self.errors
                and changed("schedule_open_date", "exam_close_date")):
            self.add_error("schedule_open_date", "Scheduling must open before the exam closes.")
        return data


class SlotForm(forms.Form):
    """One instructor-as-proctor slot. `sid` identifies an existing slot so the upstream edits rather than
    replaces it."""

    sid = forms.CharField(required=False, widget=forms.HiddenInput, max_length=64)
    location = forms.CharField(label="Location", max_length=500)
    time_type = forms.ChoiceField(label="Time type", choices=[(t, t) for t in INSTRUCTOR_AS_PROCTOR_TIME_TYPES],
                                  initial=INSTRUCTOR_AS_PROCTOR_TIME_TYPES[0])
    start_time = DashboardDateTimeField(label="Start", required=True)
    end_time = DashboardDateTimeField(label="End", required=True)
    capacity = forms.IntegerField(label="Capacity", min_value=1, max_value=10000,
                                  error_messages={"min_value": "Capacity must be at least 1."})

    def clean(self):
        data = super().clean()
        start, end = data.get("start_time"), data.get("end_time")
        if start and end and end <= start:
            self.add_error("end_time", "The slot must end after it starts.")
        return data


class AttachmentForm(forms.Form):
    url = forms.URLField(label="Attachment URL", max_length=2000, assume_scheme="https")
    title = forms.CharField(label="Title", max_length=300)


class BaseSlotFormSet(forms.BaseFormSet):
    pass


def _quiet_formset(formset) -> None:
    """A formset shown with its data but without errors (a row just added, or rows the user did not touch)."""
    from django.forms.utils import ErrorDict, ErrorList

    formset._errors = [ErrorDict() for _ in formset.forms]
    formset._non_form_errors = ErrorList()
    for form in formset.forms:
        form._errors = ErrorDict()
        form.cleaned_data = {}


SlotFormSet = forms.formset_factory(SlotForm, formset=BaseSlotFormSet, extra=0, can_delete=True, max_num=50,
                                    validate_max=True)
AttachmentFormSet = forms.formset_factory(AttachmentForm, extra=0, can_delete=True, max_num=5, validate_max=True)

# Upstream nested keys → form field names (for mapping the upstream's validation errors back).
SLOT_KEYS = {"location": "location", "timeType": "time_type", "startTime": "start_time", "endTime": "end_time",
             "capacity": "capacity", "sid": "location"}
ATTACHMENT_KEYS = {"attachmentUrl": "url", "attachmentAwsTitle": "title"}


class ConfigurationBundle:
    """The configuration form parts together: bound to POST data, or unbound from an upstream configuration."""

    slots_prefix = "slots"
    attachments_prefix = "attachments"

    def __init__(self, data: QueryDict | None = None, *, raw: dict | None = None, mode: str = "update",
                 disabled: bool = False, base: dict | None = None, password_shown: bool = True,
                 password_alt: str = "", proctor_types=(), modality_keys: dict[str, str] | None = None):
        """`raw`: the configuration to show (unbound). `data`: what the browser sent, compared with `base` (the
        normalised values the form was opened with; see ConfigurationForm). `proctor_types`: known (sid, label)
        options; `modality_keys`: known modality option keys → field kind (both learned from synced data)."""
        self.mode = mode
        self.base = base
        self.unchanged: set[str] = set()  # upstream keys of slots/attachments the user did not touch
        raw = raw or {}
        known = dict(modality_keys or {})
        if raw:
            for key, value in F_.values_of(raw)["modalityOptions"].items():
                kind = modality_kind(value)
                if kind and modality_key_ok(key):
                    known[key] = kind  # this configuration's own value decides the field's kind
                else:
                    known.pop(key, None)  # a value no field can show exactly: it stays in the JSON box
        initial, slots, attachments = self.initial_from(raw, modality_keys=known)
        if data is None:
            selected = initial.get("proctor_types") or []
        else:
            selected = data.getlist("proctor_types") if hasattr(data, "getlist") else data.get("proctor_types") or []
            selected = [selected] if isinstance(selected, str) else selected
        known = {k: v for k, v in known.items() if modality_key_ok(k)}
        self.form = ConfigurationForm(data, initial=initial if data is None else None, mode=mode, base=base,
                                      password_shown=password_shown, password_alt=password_alt,
                                      modality_keys=known,
                                      proctor_types=proctor_type_choices(proctor_types, selected))
        self.slots = SlotFormSet(data, initial=slots if data is None else None, prefix=self.slots_prefix)
        self.attachments = (AttachmentFormSet(data, initial=attachments if data is None else None,
                                              prefix=self.attachments_prefix) if mode == "update" else None)
        self.non_field_errors: list[str] = []
        # A single-line input would drop the line breaks of an upstream text (the browser strips them from an
        # <input>'s value), which would look like an edit: such a text gets a textarea.
        for name, f in self.form.fields.items():
            spec = F_.BY_NAME.get(name)
            if spec is None or spec.kind != "text" or not isinstance(f.widget, forms.TextInput):
                continue
            value = (self.form.data.get(name) if data is not None else initial.get(name)) or ""
            if "\n" in str(value) or "\r" in str(value):
                f.widget = forms.Textarea(attrs={**f.widget.attrs, "rows": 2})
        if disabled:
            for form in self.all_forms():
                for f in form.fields.values():
                    f.disabled = True
            # A reader (support, a locked configuration) sees that a password is set, never the password.
            self.form.fields["password"].widget.render_value = False
        for form in self.all_forms():
            for name, f in form.fields.items():
                f.widget.attrs.setdefault("aria-describedby", f"err-{form.add_prefix(name)}")

    @property
    def permitted_rows(self) -> list[dict]:
        return [{"label": F_.PERMITTED_LABELS[item], "check": self.form[f"permitted_{F_.snake(item)}"],
                 "info": self.form[f"permitted_{F_.snake(item)}_information"]} for item in PERMITTED_ITEMS]

    @property
    def modality_rows(self) -> list:
        return [{"field": self.form[name], "key": self.form[f"{name}_key"], "kind": self.form[f"{name}_kind"]}
                for name, _, _ in self.form.modality_names]

    def suppress_errors(self) -> None:
        """Show bound data without validating it (after "add a row": the new row is not an error yet)."""
        for fs in (self.slots, self.attachments):
            if fs is not None:
                _quiet_formset(fs)
        from django.forms.utils import ErrorDict

        self.form._errors = ErrorDict()

    # -- building --------------------------------------------------------------------------------------------
    @staticmethod
    def initial_from(raw: dict, *, modality_keys: dict[str, str] | None = None) -> tuple[dict, list[dict], list[dict]]:
        values = F_.values_of(raw, keep_password=True) if raw else {}
        initial: dict[str, Any] = {}
        for f in F_.FIELDS:
            if f.kind in ("slots", "attachments") or f.key not in values:
                continue
            value = values[f.key]
            initial[f.name] = F_.parse_date(value) if f.kind == "date" else value
        if "password" in initial and F_.is_password_digest(initial["password"]):
            initial["password"] = ""  # a cached copy: never put a digest in a field
        modality = dict(values.get("modalityOptions") or {})
        for i, (key, kind) in enumerate(sorted((modality_keys or {}).items())):
            if key in modality:
                value = modality.pop(key)
                initial[f"modality_{i}"] = ("true" if value else "false") if kind == "bool" else (
                    repr(value) if isinstance(value, float) else str(value))
        if raw:
            initial["modality_options"] = modality  # what no field shows
        slots = [{"sid": s.get("sid", ""), "location": s["location"], "time_type": s["timeType"],
                  "start_time": F_.parse_date(s["startTime"]), "end_time": F_.parse_date(s["endTime"]),
                  "capacity": s["capacity"]} for s in values.get("instructorAsProctor", [])]
        attachments = [{"url": a["attachmentUrl"], "title": a["attachmentAwsTitle"]}
                       for a in values.get("attachments", [])]
        return initial, slots, attachments

    def all_forms(self):
        yield self.form
        yield from self.slots.forms
        if self.attachments is not None:
            yield from self.attachments.forms

    def enable_inline_validation(self, url: str) -> None:
        """Each input asks the server about itself when the user leaves it (htmx); the answer fills its error slot."""
        for form in self.all_forms():
            for name, bound in form.fields.items():
                html_name = form.add_prefix(name)
                if isinstance(bound.widget, forms.HiddenInput):
                    continue
                bound.widget.attrs.update({
                    "hx-post": url, "hx-trigger": "change", "hx-target": f"#err-{html_name}",
                    "hx-swap": "outerHTML", "hx-include": "closest form", "hx-vals": json.dumps({"_field": html_name}),
                })

    # -- validation ------------------------------------------------------------------------------------------
    def is_valid(self) -> bool:
        ok = self.form.is_valid()
        if self._rows_unchanged(self.slots, "instructorAsProctor"):
            _quiet_formset(self.slots)
        else:
            ok = self.slots.is_valid() and ok
        if self.attachments is not None:
            if self._rows_unchanged(self.attachments, "attachments"):
                _quiet_formset(self.attachments)
            else:
                ok = self.attachments.is_valid() and ok
        return ok and not self.non_field_errors

    def _rows_unchanged(self, formset, key: str) -> bool:
        """A slot or attachment list the user did not touch (every row's inputs hold the text a browser sends for
        the base row): it keeps the base value and is never an error, whatever the upstream holds."""
        if self.base is None or key not in self.base or not formset.is_bound:
            return False
        data = formset.data
        base_rows = F_.normalise(key, self.base[key])
        if str(data.get(f"{formset.prefix}-TOTAL_FORMS", "")).strip() != str(len(base_rows)):
            return False
        for i, row in enumerate(base_rows):
            def sent(name):
                return F_.lf(str(data.get(f"{formset.prefix}-{i}-{name}", "")))  # noqa: B023

            if sent("DELETE"):
                return False
            if key == "attachments":
                expected = {"url": input_text(row["attachmentUrl"]).strip(" \t\n\f"),
                            "title": input_text(row["attachmentAwsTitle"])}
            else:
                expected = {"location": input_text(row["location"]), "time_type": "between",
                            "start_time": date_text(row["startTime"]), "end_time": date_text(row["endTime"]),
                            "capacity": "" if row["capacity"] is None else str(row["capacity"]),
                            "sid": F_.lf(row.get("sid") or "")}
            if any(sent(name).strip() != value.strip() if name == "url" else sent(name) != value
                   for name, value in expected.items()):
                return False
        self.unchanged.add(key)
        return True

    def live_slot_forms(self):
        """The slot rows that stay (not marked for removal), in order: the order of the PUT body's list."""
        return [f for f in self.slots.forms if not self._deleted(self.slots, f)]

    @staticmethod
    def _deleted(formset, form) -> bool:
        return formset.can_delete and hasattr(form, "cleaned_data") and formset._should_delete_form(form)

    def live_attachment_forms(self):
        if self.attachments is None:
            return []
        return [f for f in self.attachments.forms if not self._deleted(self.attachments, f)]

    def errors_by_name(self) -> dict[str, list[str]]:
        """{html field name: [messages]} for every field with an error (after is_valid)."""
        out: dict[str, list[str]] = {}
        for form in self.all_forms():
            if not form.is_bound:
                continue
            if any(fs is not None and form in fs.forms and self._deleted(fs, form)
                   for fs in (self.slots, self.attachments)):
                continue
            for name, errors in form.errors.items():
                if name == "__all__":
                    continue
                out.setdefault(form.add_prefix(name), []).extend(errors)
        for name, formset in (("slots", self.slots), ("attachments", self.attachments)):
            if formset is not None and formset.is_bound and formset.non_form_errors():
                out.setdefault(name, []).extend(formset.non_form_errors())
        return out

    def all_error_messages(self) -> list[tuple[str, str]]:
        """[(label, message)] for the summary at the top of the form."""
        labels = {}
        for form in self.all_forms():
            for name, f in form.fields.items():
                labels[form.add_prefix(name)] = self._label(form, name, f)
        labels["slots"] = "Instructor-as-proctor slots"
        labels["attachments"] = "Attachments"
        out = [(labels.get(name, name), m) for name, msgs in self.errors_by_name().items() for m in msgs]
        out += [("", m) for m in self.non_field_errors]
        out += [("", m) for m in self.form.non_field_errors()]
        return out

    def _label(self, form, name, field) -> str:
        if form.prefix and form.prefix.startswith(self.slots_prefix):
            return f"Slot {int(form.prefix.split('-')[1]) + 1}: {field.label}"
        if form.prefix and form.prefix.startswith(self.attachments_prefix):
            return f"Attachment {int(form.prefix.split('-')[1]) + 1}: {field.label}"
        return str(field.label)

    def add_upstream_errors(self, field_errors: dict[str, str]) -> None:
        """Put the upstream's validation errors (keyed by body key, nested keys dotted) on the matching fields."""
        slot_forms = self.live_slot_forms()
        attachment_forms = self.live_attachment_forms()
        for key, message in field_errors.items():
            message = f"SmarterProctoring: {message}"
            parts = key.split(".")
            head = parts[0]
            if key.startswith("configuration."):  # the create call nests the configuration
                self.add_upstream_errors({key.removeprefix("configuration."): message.removeprefix(
                    "SmarterProctoring: ")})
                continue
            if head == "instructorAsProctor" and len(parts) >= 2 and parts[1].isdecimal():
                index = int(parts[1])
                if index < len(slot_forms):
                    name = SLOT_KEYS.get(parts[2] if len(parts) > 2 else "", "location")
                    slot_forms[index].add_error(name, message)
                    continue
            if head == "attachments" and len(parts) >= 2 and parts[1].isdecimal():
                index = int(parts[1])
                if index < len(attachment_forms):
                    attachment_forms[index].add_error(ATTACHMENT_KEYS.get(parts[2] if len(parts) > 2 else "", "url"),
                                                      message)
                    continue
            field = F_.BY_KEY.get(head)
            if field is not None and field.name in self.form.fields:
                self.form.add_error(field.name, message)
            elif field is not None and field.kind == "slots":
                self.slots._non_form_errors = self.slots.non_form_errors() + [message]
            elif field is not None and field.kind == "attachments" and self.attachments is not None:
                self.attachments._non_form_errors = self.attachments.non_form_errors() + [message]
            else:
                self.non_field_errors.append(f"{message} (field “{key[:60]}”)")

    # -- values ----------------------------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """The edited configuration as normalised upstream values (password in clear). Call after is_valid()."""
        data = self.form.cleaned_data
        out: dict[str, Any] = {}
        for f in F_.FIELDS:
            if f.key in self.unchanged:
                out[f.key] = self.base[f.key]
                continue
            if f.kind == "slots":
                out[f.key] = [self._slot_value(s.cleaned_data) for s in self.live_slot_forms() if s.cleaned_data]
                continue
            if f.kind == "attachments":
                if self.attachments is None:
                    continue
                out[f.key] = [{"attachmentUrl": a.cleaned_data["url"], "attachmentAwsTitle": a.cleaned_data["title"]}
                              for a in self.live_attachment_forms() if a.cleaned_data]
                continue
            if f.name not in self.form.fields:
                continue
            value = data.get(f.name)
            if f.kind == "date":
                out[f.key] = to_utc_z(value) if value else None
            elif f.kind == "text":
                out[f.key] = F_.lf(value or "")
            elif f.kind == "password":
                out[f.key] = value or ""
            elif f.kind == "json":
                out[f.key] = data.get("modality_value", value or {})
            elif f.kind == "sids":
                chosen = list(value or []) + _sid_parts(data.get("proctor_types_other") or "")
                out[f.key] = list(dict.fromkeys(chosen))
            else:
                out[f.key] = value
        return out

    @staticmethod
    def _slot_value(d: dict) -> dict:
        slot = {"location": d["location"], "timeType": d["time_type"], "startTime": to_utc_z(d["start_time"]),
                "endTime": to_utc_z(d["end_time"]), "capacity": d["capacity"]}
        if d.get("sid"):
            slot["sid"] = d["sid"]
        return slot


def formset_data_with_extra(data: QueryDict, prefix: str) -> QueryDict:
    """The same POST data with one more (empty) row in a formset: "add a row" without JavaScript."""
    out = data.copy()
    key = f"{prefix}-TOTAL_FORMS"
    try:
        total = int(out.get(key, 0))
    except ValueError:
        total = 0
    out[key] = str(total + 1)
    return out


def formset_data_without(data: QueryDict, prefix: str, index: int) -> QueryDict:
    """The same POST data with row `index` of a formset taken out and the later rows renumbered."""
    out = data.copy()
    key = f"{prefix}-TOTAL_FORMS"
    try:
        total = int(out.get(key, 0))
    except ValueError:
        return out
    if not 0 <= index < total:
        return out
    rows = []
    for i in range(total):
        row = {k[len(f"{prefix}-{i}-"):]: out.getlist(k) for k in list(out.keys()) if k.startswith(f"{prefix}-{i}-")}
        rows.append(row)
        for k in list(out.keys()):
            if k.startswith(f"{prefix}-{i}-"):
                del out[k]
    del rows[index]
    for i, row in enumerate(rows):
        for name, values in row.items():
            out.setlist(f"{prefix}-{i}-{name}", values)
    out[key] = str(total - 1)
    return out


class ExamForm(forms.Form):
    """The exam-level fields of Create Exam (the configuration comes from a ConfigurationBundle in create mode)."""

    title = forms.CharField(label="Title", max_length=500)
    type = forms.ChoiceField(label="Type", choices=[(t, t) for t in EXAM_TYPES],
                             help_text="Online exams need a URL and a password.")
    url = forms.URLField(label="Exam URL", required=False, max_length=2000, assume_scheme="https")
    use_proctor_manager = forms.BooleanField(label="Use the proctor manager (automatic proctor assignment)",
                                             required=False, initial=True)
    require_approval = forms.BooleanField(label="Sessions need approval before the student can begin",
                                          required=False)
    enable_appointment_suggestions = forms.BooleanField(label="Suggest appointment times to students",
                                                        required=False, initial=True)
    exam_delivery_system_module = forms.CharField(label="Delivery system module", max_length=100, initial="canvas",
                                                  help_text="For example canvas.")
    description = forms.CharField(label="Description", required=False, max_length=5000,
                                  widget=forms.Textarea(attrs={"rows": 2}))
    contact_user_sid = forms.RegexField(label="Contact user SID", required=False,
                                        regex=SID_PATTERNS["user"].pattern, max_length=34,
                                        error_messages={"invalid": "A user SID is 'US' followed by 32 lowercase "
                                                                   "hex digits."})
    is_limited_scope = forms.BooleanField(label="Limited scope (only students assigned to it)", required=False)
    status = forms.ChoiceField(label="Status", choices=[(s, s) for s in EXAM_STATUSES if s != "deleted"],
                               initial="active")
    virtual_calculator_type = forms.CharField(label="Virtual calculator type", required=False, max_length=100,
                                              help_text="For example scientific-calc; empty for none.")
    # Hidden, but named: a damaged key (a tampered or truncated form) must say what is wrong, not "None: …".
    idempotency_key = forms.UUIDField(
        widget=forms.HiddenInput, label="Submission key",
        error_messages={"required": "This form's submission key is missing: reload the page to get a fresh form.",
                        "invalid": "This form's submission key is damaged: reload the page to get a fresh form."})

    def body(self) -> dict[str, Any]:
        d = self.cleaned_data
        body = {
            "title": d["title"], "type": d["type"], "useProctorManager": d["use_proctor_manager"],
            "requireApproval": d["require_approval"], "url": d["url"] or None,
            "enableAppointmentSuggestions": d["enable_appointment_suggestions"],
            "examDeliverySystemModule": d["exam_delivery_system_module"], "description": d["description"] or None,
            "isLimitedScope": d["is_limited_scope"], "status": d["status"],
        }
        if d.get("contact_user_sid"):
            body["contactUserSid"] = d["contact_user_sid"]
        return body


EXAM_KEYS = {"title": "title", "type": "type", "useProctorManager": "use_proctor_manager",
             "requireApproval": "require_approval", "url": "url",
             "enableAppointmentSuggestions": "enable_appointment_suggestions",
             "examDeliverySystemModule": "exam_delivery_system_module", "description": "description",
             "contactUserSid": "contact_user_sid", "isLimitedScope": "is_limited_scope", "status": "status"}


class CreateBundle:
    """ExamForm + a ConfigurationBundle in create mode."""

    def __init__(self, data: QueryDict | None = None, *, initial: dict | None = None, **options):
        self.exam = ExamForm(data, initial=initial)
        self.config = ConfigurationBundle(data, mode="create", **options)

    def is_valid(self) -> bool:
        ok = self.exam.is_valid()
        ok = self.config.is_valid() and ok
        if self.exam.is_bound and self.exam.cleaned_data.get("type") == "Online":
            if not self.exam.cleaned_data.get("url") and "url" not in self.exam.errors:
                self.exam.add_error("url", "An Online exam needs its URL.")
                ok = False
            cfg = getattr(self.config.form, "cleaned_data", {})
            if not cfg.get("password") and "password" not in self.config.form.errors:
                self.config.form.add_error("password", "An Online exam needs a password.")
                ok = False
        return ok

    def errors_by_name(self) -> dict[str, list[str]]:
        out = {name: list(errs) for name, errs in self.exam.errors.items() if name != "__all__"}
        out.update(self.config.errors_by_name())
        return out

    def all_error_messages(self) -> list[tuple[str, str]]:
        out = [(str(self.exam.fields[n].label), m) for n, errs in self.exam.errors.items() if n in self.exam.fields
               for m in errs]
        return out + self.config.all_error_messages()

    def add_upstream_errors(self, field_errors: dict[str, str]) -> None:
        config_errors = {}
        for key, message in field_errors.items():
            if key in EXAM_KEYS:
                self.exam.add_error(EXAM_KEYS[key], f"SmarterProctoring: {message}")
            else:
                config_errors[key.removeprefix("configuration.")] = message
        self.config.add_upstream_errors(config_errors)

    def suppress_errors(self) -> None:
        from django.forms.utils import ErrorDict

        self.exam._errors = ErrorDict()
        self.config.suppress_errors()

    def enable_inline_validation(self, url: str) -> None:
        for name, field in self.exam.fields.items():
            if isinstance(field.widget, forms.HiddenInput):
                continue
            field.widget.attrs.update({
                "hx-post": url, "hx-trigger": "change", "hx-target": f"#err-{name}", "hx-swap": "outerHTML",
                "hx-include": "closest form", "hx-vals": json.dumps({"_field": name})})
        self.config.enable_inline_validation(url)


class BulkChangeForm(forms.Form):
    """The one change of a bulk change; each kind names the field it needs, and the errors name that field."""

    KINDS = [("permit", "Allow a permitted item"), ("extend_close", "Extend the exam close date"),
             ("duration", "Set the duration"), ("attempts", "Set attempts allowed")]
    kind = forms.ChoiceField(label="Change", choices=KINDS, widget=forms.RadioSelect)
    item = forms.ChoiceField(label="Permitted item", required=False,
                             choices=[(i, F_.PERMITTED_LABELS[i]) for i in PERMITTED_ITEMS])
    information = forms.CharField(label="Information text for the item", required=False, max_length=5000,
                                  widget=forms.Textarea(attrs={"rows": 2}),
                                  help_text="Shown to proctors and students, e.g. which calculator models.")
    days = forms.IntegerField(label="Days to add to the close date", required=False, min_value=1, max_value=365)
    minutes = forms.IntegerField(label="Duration (minutes)", required=False, min_value=1, max_value=1440)
    attempts = forms.IntegerField(label="Attempts allowed", required=False, min_value=1, max_value=99)
    reason = forms.CharField(label="Reason (kept in each configuration's history)", required=False, max_length=300)

    NEEDS = {"permit": "item", "extend_close": "days", "duration": "minutes", "attempts": "attempts"}

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        needed = self.NEEDS.get(kind)
        if needed and data.get(needed) in (None, "") and needed not in self.errors:
            self.add_error(needed, f"{self.fields[needed].label}: required for “{dict(self.KINDS)[kind]}”.")
        return data

    def change(self) -> dict:
        """The change as data (what BulkChange.change stores)."""
        kind = self.cleaned_data["kind"]
        if kind == "permit":
            return {"kind": kind, "item": self.cleaned_data["item"],
                    "information": self.cleaned_data.get("information") or ""}
        key = self.NEEDS[kind]
        return {"kind": kind, key: self.cleaned_data[key]}
