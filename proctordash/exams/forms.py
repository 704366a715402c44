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
    """A <input type=datetime-local> read in the dashboard's zone (whatever zone the request runs in)."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format=INPUT_FORMAT)
    input_formats = [INPUT_FORMAT, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format=INPUT_FORMAT)

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


class SidListField(forms.CharField):
    """Proctor types: TS… SIDs, one per line (commas and spaces also separate)."""

    widget = forms.Textarea(attrs={"rows": 2, "spellcheck": "false"})

    def to_python(self, value):
        text = super().to_python(value) or ""
        return [part for part in text.replace(",", " ").split() if part]

    def validate(self, value):
        bad = [v for v in value if not SID_PATTERNS["proctor_type"].fullmatch(v)]
        if bad:
            raise ValidationError(
                f"“{bad[0][:40]}” is not a proctor type SID: 'TS' followed by 32 lowercase hex digits.", code="pattern")

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(value)
        return value


def _text(label: str, *, rows: int = 0, max_length: int = 5000, help_text: str = "") -> forms.CharField:
    widget = forms.Textarea(attrs={"rows": rows}) if rows else forms.TextInput()
    return forms.CharField(label=label, required=False, strip=False, max_length=max_length, widget=widget,
                           help_text=help_text)


class ConfigurationForm(forms.Form):
    """The scalar fields of a configuration (Update Configuration body). mode="create" leaves out the url (the
    Create Exam call takes it at the exam level)."""

    def __init__(self, *args, mode: str = "update", **kwargs):
        super().__init__(*args, **kwargs)
        self.mode = mode
        for item in PERMITTED_ITEMS:
            label = F_.PERMITTED_LABELS[item]
            name = f"permitted_{F_.snake(item)}"
            self.fields[name] = forms.BooleanField(label=f"{label} permitted", required=False)
            self.fields[f"{name}_information"] = _text(f"{label}: information for students and proctors",
                                                       max_length=2000)
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
        if mode == "update":
            self.fields["url"] = forms.URLField(label="Exam URL", required=False, max_length=2000,
                                                assume_scheme="https")
        self.fields["required_software"] = _text("Required software", rows=2)
        self.fields["student_notes"] = _text("Notes for students", rows=3)
        self.fields["proctor_notes"] = _text("Notes for proctors", rows=3)
        self.fields["proctor_types"] = SidListField(
            label="Proctor types", required=False,
            help_text="Proctor type SIDs (TS followed by 32 hex digits), one per line.")
        self.fields["modality_options"] = forms.JSONField(
            label="Modality options", required=False, initial=dict, widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
            help_text="A JSON object, as SmarterProctoring stores it ({} for none).")

    def clean_modality_options(self):
        value = self.cleaned_data.get("modality_options")
        if value in (None, ""):
            return {}
        if not isinstance(value, dict):
            raise ValidationError("Modality options must be a JSON object, for example {}.", code="type")
        return value

    def clean(self):
        data = super().clean()
        opens, closes = data.get("exam_open_date"), data.get("exam_close_date")
        s_opens, s_closes = data.get("schedule_open_date"), data.get("schedule_close_date")
        if opens and closes and closes <= opens:
            self.add_error("exam_close_date", "The exam must close after it opens.")
        if s_opens and s_closes and s_closes <= s_opens:
            self.add_error("schedule_close_date", "Scheduling must close after it opens.")
        if s_closes and closes and s_closes > closes and "schedule_close_date" not in self.errors:
            self.add_error("schedule_close_date", "Scheduling must close no later than the exam closes.")
        if s_opens and closes and s_opens >= closes and "schedule_open_date" not in self.errors:
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
                 disabled: bool = False):
        self.mode = mode
        initial, slots, attachments = self.initial_from(raw or {})
        self.form = ConfigurationForm(data, initial=initial if data is None else None, mode=mode)
        self.slots = SlotFormSet(data, initial=slots if data is None else None, prefix=self.slots_prefix)
        self.attachments = (AttachmentFormSet(data, initial=attachments if data is None else None,
                                              prefix=self.attachments_prefix) if mode == "update" else None)
        self.non_field_errors: list[str] = []
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

    def suppress_errors(self) -> None:
        """Show bound data without validating it (after "add a row": the new row is not an error yet)."""
        from django.forms.utils import ErrorDict, ErrorList

        for fs in (self.slots, self.attachments):
            if fs is not None:
                fs._errors = [ErrorDict() for _ in fs.forms]
                fs._non_form_errors = ErrorList()
        for form in self.all_forms():
            form._errors = ErrorDict()

    # -- building --------------------------------------------------------------------------------------------
    @staticmethod
    def initial_from(raw: dict) -> tuple[dict, list[dict], list[dict]]:
        values = F_.values_of(raw, keep_password=True) if raw else {}
        initial: dict[str, Any] = {}
        for f in F_.FIELDS:
            if f.kind in ("slots", "attachments") or f.key not in values:
                continue
            value = values[f.key]
            initial[f.name] = F_.parse_date(value) if f.kind == "date" else value
        if "password" in initial and str(initial["password"]).startswith("sha256:"):
            initial["password"] = ""  # a cached copy: never put a digest in a field
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
        ok = self.slots.is_valid() and ok
        if self.attachments is not None:
            ok = self.attachments.is_valid() and ok
        return ok and not self.non_field_errors

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
                out[f.key] = value or ""
            elif f.kind == "password":
                out[f.key] = value or ""
            elif f.kind == "json":
                out[f.key] = value or {}
            elif f.kind == "sids":
                out[f.key] = value or []
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

    def __init__(self, data: QueryDict | None = None, *, initial: dict | None = None):
        self.exam = ExamForm(data, initial=initial)
        self.config = ConfigurationBundle(data, mode="create")

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
