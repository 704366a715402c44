"""The appointment list's filters: a plain GET form whose field names are the upstream report's query-string names,
so that a URL means the same here as in SmarterProctoring's own report and can be shared or bookmarked.

Every field keeps what the user typed: a value that fails validation is shown back (a select gets an extra option
carrying it) with the error beside it, never silently replaced.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from html import escape
from typing import NamedTuple
from urllib.parse import urlencode

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.forms.utils import flatatt
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from proctordash.core import timezones, vocabulary

# sort keys accepted in ?sort= (prefix "-" for descending); also the list's column order
SORT_KEYS = {
    "appointmentDate": "appointment_date",
    "learner": "learner_last_name",
    "learnerEmail": "learner_email",
    "course": "course_title",
    "exam": "exam_title",
    "type": "session_type",
    "status": "status",
    "reviewStatus": "review_status",
    "reviewByDate": "review_by_date",
    "sessionReportCount": "session_report_count",
}
DEFAULT_SORT = "appointmentDate"
# ?when=: which appointment dates the list shows when no date range is typed. The default ("" = upcoming) is what a
# coordinator opens the list for in the morning: from the start of today (dashboard zone) on, soonest first, with
# the not-yet-scheduled ones (no date) after them. "past" = before today, most recent first; "all" = every date.
WHEN_CHOICES = [("", "From today"), ("past", "Past"), ("all", "All dates")]
DEFAULT_SORT_FOR_WHEN = {"": "appointmentDate", "past": "-appointmentDate", "all": "appointmentDate",
                         "range": "appointmentDate"}
PER_PAGE_CHOICES = [25, 50, 100, 200]
DEFAULT_PER_PAGE = 50

TEXT_FILTERS = {  # query name → lowercased column (the upstream's case-insensitive substring match)
    "learnerFirstName": "learner_first_name_search",
    "learnerLastName": "learner_last_name_search",
    "learnerEmail": "learner_email_search",
    "learnerSid": "learner_sid_search",
    "courseTitle": "course_title_search",
    "examTitle": "exam_title_search",
}
EXACT_FILTERS = {  # query name → column
    "courseSid": "course_sid",
    "examSid": "exam_sid",
    "courseOfferingSid": "course_offering_sid",
    "type": "session_type",
    "status": "status",
    "reviewStatus": "review_status",
    "examStatus": "exam_status",
}
# the keys a shareable filter URL may carry (saved views keep exactly these)
FILTER_KEYS = [*EXACT_FILTERS, "appointmentAfter", "appointmentBefore", "when", *TEXT_FILTERS, "q", "sort",
               "per_page"]
ALL_KEYS = [*FILTER_KEYS, "page"]

no_percent = RegexValidator(vocabulary.NAME_FILTER_PATTERN, "Must not contain “%%” (the report rejects it).")


def sid_validator(kind: str, label: str) -> RegexValidator:
    prefix = vocabulary.SID_PREFIXES[kind]
    return RegexValidator(vocabulary.SID_PATTERNS[kind],
                          f"Not {label} SID: expected “{prefix}” followed by 32 lowercase hex digits.")


class KeepValueSelect(forms.Select):
    """A select that shows a submitted value even when it is not one of the choices (marked as not recognised), so
    an invalid or unknown value stays visible and in the URL until the user changes it.

    Rendered in Python rather than through Django's per-option templates: the exam picker has hundreds of options
    and the template path made it the most expensive part of the list page."""

    prepared: PreparedChoices | None = None  # set per form from the per-generation cache (selectors.picker_widgets)

    def render(self, name, value, attrs=None, renderer=None):
        final_attrs = self.build_attrs(self.attrs, attrs)
        selected = {str(v) for v in self.format_value(value)}
        if self.prepared is not None:
            options, known = self.prepared.render(selected)
            parts = [format_html("<select name=\"{}\"{}>", name, flatatt(final_attrs)), options]
            for extra in sorted(selected - known - {""}):
                parts.append(format_html('<option value="{}" selected>{} (not recognised)</option>', extra, extra))
            parts.append("</select>")
            return mark_safe("".join(parts))
        known: set[str] = set()

        def option(option_value, label) -> str:
            option_value = str(option_value)
            known.add(option_value)
            flag = " selected" if option_value in selected else ""
            return f'<option value="{escape(option_value)}"{flag}>{escape(str(label))}</option>'

        parts = [format_html("<select name=\"{}\"{}>", name, flatatt(final_attrs))]
        for group_value, group_label in self.choices:
            if isinstance(group_label, (list, tuple)):
                parts.append(optgroup_open(group_value))
                parts.extend(option(v, label) for v, label in group_label)
                parts.append("</optgroup>")
            else:
                parts.append(option(group_value, group_label))
        for extra in sorted(selected - known - {""}):
            parts.append(format_html('<option value="{}" selected>{} (not recognised)</option>', extra, extra))
        parts.append("</select>")
        return mark_safe("".join(parts))


class PreparedChoices:
    """A picker's <option>s escaped and joined once, for as long as its choices last (one sync generation and
    course scope: selectors.picker_widgets keeps them per process). Rendering then only marks the submitted value
    as selected, instead of normalising and escaping hundreds of options per request (the exam picker: ~250). The
    markup is exactly what KeepValueSelect writes from `choices` (tests/appointments/test_rendering.py pins it)."""

    __slots__ = ("parts", "selected_parts", "positions")

    def __init__(self, choices):
        self.parts: list[str] = []
        self.selected_parts: dict[int, str] = {}
        self.positions: dict[str, list[int]] = {}

        def option(option_value, label) -> None:
            option_value = str(option_value)
            self.positions.setdefault(option_value, []).append(len(self.parts))
            self.selected_parts[len(self.parts)] = f'<option value="{escape(option_value)}" selected>{escape(str(label))}</option>'
            self.parts.append(f'<option value="{escape(option_value)}">{escape(str(label))}</option>')

        for group_value, group_label in choices:
            if isinstance(group_label, (list, tuple)):
                self.parts.append(optgroup_open(group_value))
                for v, label in group_label:
                    option(v, label)
                self.parts.append("</optgroup>")
            else:
                option(group_value, group_label)

    def render(self, selected: set[str]) -> tuple[str, set]:
        """(the options with `selected` marked, the option values known here)."""
        parts = self.parts
        hits = [i for value in selected for i in self.positions.get(value, ())]
        if hits:
            parts = list(parts)
            for i in hits:
                parts[i] = self.selected_parts[i]
        return "".join(parts), self.positions.keys()


class Group(NamedTuple):
    """An <optgroup>: its label and the course it belongs to (data-course: the exam and offering pickers narrow to
    the chosen course in the browser, static/js/appointments.js)."""

    label: str
    course: str = ""


def optgroup_open(group) -> str:
    if isinstance(group, Group):
        return format_html('<optgroup label="{}" data-course="{}">', group.label, group.course)
    return format_html('<optgroup label="{}">', group)


def distinct_labels(items, label, details) -> dict[str, str]:
    """sid → a label no other item shares: `label(item)`, then (only where that is not unique, compared trimmed and
    case-folded) with the first detail that tells the duplicates apart, then with the SID's last 6 digits.
    `details(item)` lists the candidate details in order (e.g. a course's code, its offering)."""
    def key(text: str) -> str:
        return " ".join(text.split()).casefold()

    labels = {item.sid: label(item) for item in items}
    groups: dict[str, list] = {}
    for item in items:
        groups.setdefault(key(labels[item.sid]), []).append(item)
    for same in groups.values():
        if len(same) < 2:
            continue
        # the first detail position whose values differ among the duplicates
        for position in range(max((len(details(i)) for i in same), default=0)):
            values = [(details(i)[position:position + 1] or [""])[0] for i in same]
            if len({key(v) for v in values}) == len(same) and all(values):
                for item, value in zip(same, values):
                    labels[item.sid] = f"{labels[item.sid]} ({value})"
                break
        else:
            for item in same:
                labels[item.sid] = f"{labels[item.sid]} (…{item.sid[-6:]})"
    return labels


def picker_choice_lists(courses=(), exams=(), offerings=()) -> dict[str, list]:
    """The course, exam and offering pickers' choices, keyed by field name.

    Every label tells its choice apart from the others (the same exam title exists in many courses): a course is its
    title, with its code or offering where two courses share a title; an exam is "title — course · window" (the
    window: the span of its appointments), grouped under its course, with the SID's tail where all that is still
    the same. `courses`/`exams` are selectors.Choice rows (detail = code and offering / window text)."""
    def detail(item) -> str:  # a selectors.Choice's detail; a Course row's code and offering; "" for an Exam row
        value = getattr(item, "detail", None)
        if value is None:
            value = f"{getattr(item, 'code', '')}\n{getattr(item, 'offering_title', '')}"
        return value

    course_labels = distinct_labels(courses, lambda c: (c.title or c.sid).strip(),
                                    lambda c: [d for d in detail(c).split("\n") if d])
    exam_labels = distinct_labels(
        exams, lambda e: " · ".join(p for p in ((e.title or e.sid).strip() + " — "
                                                 + course_labels.get(e.course_sid, e.course_sid), detail(e)) if p),
        lambda e: [])
    by_course: dict[str, list] = {}
    for exam in exams:
        by_course.setdefault(exam.course_sid, []).append((exam.sid, exam_labels[exam.sid]))
    exam_groups = sorted(((Group(course_labels.get(sid, sid), sid), sorted(options, key=lambda o: o[1].casefold()))
                          for sid, options in by_course.items()), key=lambda g: g[0].label.casefold())
    course_options = sorted(((c.sid, course_labels[c.sid]) for c in courses), key=lambda o: o[1].casefold())
    offering_groups = [(Group(course_labels.get(group.course, group.label), group.course), options)
                       if isinstance(group, Group) else (group, options) for group, options in offerings]
    return {
        "courseSid": [("", "All courses"), *course_options],
        "examSid": [("", "All exams"), *exam_groups],
        "courseOfferingSid": [("", "All offerings"), *offering_groups],
    }


def prepare_pickers(courses=(), exams=(), offerings=()) -> dict[str, PreparedChoices]:
    return {name: PreparedChoices(choices) for name, choices in picker_choice_lists(courses, exams, offerings).items()}


class FastInputMixin:
    """`<input>` written in Python, the same markup as Django's input.html (type, name, value, then the attributes):
    the list renders ~14 inputs per request and the template path cost ~1 ms each."""

    def render(self, name, value, attrs=None, renderer=None):
        final_attrs = self.build_attrs(self.attrs, attrs)
        value = self.format_value(value)
        shown = "" if value is None else f' value="{escape(str(value))}"'
        return mark_safe(f'<input type="{escape(self.input_type)}" name="{escape(name)}"{shown}{flatatt(final_attrs)}>')


class FastTextInput(FastInputMixin, forms.TextInput):
    pass


class FastHiddenInput(FastInputMixin, forms.HiddenInput):
    pass


class DashboardDateTimeField(forms.CharField):
    """A moment in time, typed as the dashboard's local time ("2026-03-01" = midnight, "2026-03-01 14:30") or as the
    upstream writes it (ISO 8601 ending in Z, or with an explicit offset). Cleans to an aware datetime."""

    default_error_messages = {
        "invalid": "Not a date: use YYYY-MM-DD or YYYY-MM-DD HH:MM (dashboard time), or ISO 8601 ending in Z.",
    }

    def to_python(self, value):
        text = super().to_python(value).strip()
        if not text:
            return None
        try:
            if len(text) == 10:
                parsed = datetime.combine(date.fromisoformat(text), time())
            else:
                parsed = datetime.fromisoformat(text.replace(" ", "T", 1))
        except ValueError as exc:
            if "out of range" in str(exc):  # the right shape, an impossible day: say so rather than "not a date"
                raise ValidationError("No such date or time: %(reason)s.", code="invalid",
                                      params={"reason": str(exc)}) from None
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None
        if timezone.is_naive(parsed):
            parsed = parsed.replace(tzinfo=timezones.dashboard_zone())
        return parsed


def _text(**kwargs) -> forms.CharField:
    kwargs.setdefault("validators", [no_percent])
    return forms.CharField(required=False, max_length=200, strip=True,
                           widget=FastTextInput(attrs={"type": "search", "class": "js-live", "autocomplete": "off"}),
                           **kwargs)


def _choice(choices, empty_label: str, label: str) -> forms.ChoiceField:
    allowed = ", ".join(choices)
    return forms.ChoiceField(label=label, required=False, choices=[("", empty_label), *[(c, c) for c in choices]],
                             widget=KeepValueSelect(attrs={"class": "js-change"}),
                             error_messages={"invalid_choice": f"Unknown value “%(value)s”: one of {allowed}."})


class AppointmentFilterForm(forms.Form):
    """Bound to request.GET. cleaned_data keys are the query-string names (the upstream report's)."""

    q = _text(label="Search", help_text="Learner name or e-mail, course or exam title.")
    courseSid = forms.CharField(label="Course", required=False, validators=[sid_validator("course", "a course")],
                                widget=KeepValueSelect(attrs={"class": "js-change"}))
    examSid = forms.CharField(label="Exam", required=False, validators=[sid_validator("exam", "an exam")],
                              widget=KeepValueSelect(attrs={"class": "js-change"}))
    courseOfferingSid = forms.CharField(label="Course offering", required=False,
                                        validators=[sid_validator("course_offering", "a course offering")],
                                        widget=KeepValueSelect(attrs={"class": "js-change"}))
    type = _choice(vocabulary.APPOINTMENT_TYPES, "Any type", "Type")
    status = _choice(vocabulary.APPOINTMENT_STATUSES, "Any status", "Status")
    reviewStatus = _choice(vocabulary.REVIEW_STATUSES, "Any review status", "Review status")
    examStatus = _choice(vocabulary.EXAM_STATUSES, "Any exam status", "Exam status")
    appointmentAfter = DashboardDateTimeField(
        label="From", required=False,
        widget=FastTextInput(attrs={"class": "js-change date-input", "placeholder": "YYYY-MM-DD HH:MM",
                                      "autocomplete": "off"}))
    appointmentBefore = DashboardDateTimeField(
        label="Until", required=False,
        widget=FastTextInput(attrs={"class": "js-change date-input", "placeholder": "YYYY-MM-DD HH:MM",
                                      "autocomplete": "off"}))
    learnerFirstName = _text(label="First name")
    learnerLastName = _text(label="Last name")
    learnerEmail = _text(label="E-mail")
    learnerSid = _text(label="Learner SID")
    courseTitle = _text(label="Course title")
    examTitle = _text(label="Exam title")
    when = forms.ChoiceField(required=False, choices=WHEN_CHOICES, widget=FastHiddenInput, error_messages={
        "invalid_choice": "Dates: “%(value)s” is not one of past, all (or empty for from today on)."})
    sort = forms.ChoiceField(required=False, choices=[("", "")] + [(k, k) for k in SORT_KEYS] + [(f"-{k}", f"-{k}") for k in SORT_KEYS],
                             widget=FastHiddenInput, error_messages={
                                 "invalid_choice": f"Cannot sort by “%(value)s”: one of {', '.join(SORT_KEYS)}, with “-” before it for descending."})
    page = forms.IntegerField(required=False, min_value=1, widget=FastHiddenInput,
                              error_messages={"invalid": "A page is a whole number from 1."})
    per_page = forms.TypedChoiceField(required=False, coerce=int, empty_value=DEFAULT_PER_PAGE,
                                      choices=[(str(n), str(n)) for n in PER_PAGE_CHOICES], widget=FastHiddenInput,
                                      error_messages={"invalid_choice": "Rows per page: one of "
                                                      + ", ".join(map(str, PER_PAGE_CHOICES)) + "."})

    def __init__(self, data=None, *, courses=(), exams=(), offerings=(), pickers: dict | None = None, **kwargs):
        """`pickers`: prepared options (prepare_pickers) for the course/exam/offering selects, instead of the
        `courses`, `exams` and `offerings` they are made from."""
        super().__init__(data, **kwargs)
        if pickers is not None:
            for name, prepared in pickers.items():
                self.fields[name].widget.prepared = prepared
        else:
            for name, choices in picker_choice_lists(courses, exams, offerings).items():
                self.fields[name].widget.choices = choices
        for name in TEXT_FILTERS:
            self.fields[name].widget.attrs.setdefault("class", "js-live")
        self.fields["q"].widget.attrs.update({"placeholder": "Learner, e-mail, course or exam",
                                             "aria-describedby": "search-help"})
        for name in ("appointmentAfter", "appointmentBefore"):
            self.fields[name].widget.attrs["aria-describedby"] = "date-help"
        # the exam and offering pickers narrow to the chosen course in the browser (static/js/appointments.js); the
        # exam picker also gets a find-as-you-type box when it has more than 30 choices
        self.fields["examSid"].widget.attrs.update({"data-narrow-by": "courseSid", "data-findable": "30"})
        self.fields["courseOfferingSid"].widget.attrs["data-narrow-by"] = "courseSid"

    def clean(self):
        data = super().clean()
        after, before = data.get("appointmentAfter"), data.get("appointmentBefore")
        if after and before and after > before:
            self.add_error("appointmentBefore", "“Until” must not be earlier than “From”.")
        # a typed date range wins over ?when= (the range is what the user asked for last)
        if self.raw("appointmentAfter") or self.raw("appointmentBefore"):
            data["when"] = "range"
        else:
            data["when"] = data.get("when") or ""
        data["today_start"] = start_of_today()
        return data

    # --- helpers for the views and templates ----------------------------------------------------------------------
    def error_slot(self, name: str, *, oob: bool = False) -> str:
        """The `#errors-<field>` slot beside a field (filled or empty); `oob` for the fragment, which replaces every
        slot out of band so errors appear and clear with the results."""
        field = self[name]
        errors = "".join(f'<p class="field-error">{escape(str(e))}</p>' for e in field.errors)
        swap = ' hx-swap-oob="true"' if oob else ""
        return mark_safe(f'<div id="errors-{name}" class="error-slot" data-error-for="{escape(field.id_for_label)}"'
                         f'{swap}>{errors}</div>')

    def error_slots(self) -> dict[str, str]:
        return {name: self.error_slot(name) for name, field in self.fields.items() if not field.widget.is_hidden}

    def oob_error_slots(self) -> str:
        return mark_safe("".join(self.error_slot(name, oob=True)
                                 for name, field in self.fields.items() if not field.widget.is_hidden))

    def fields_html(self, names: list[str]) -> str:
        """A `.field` block (label, widget, error slot) per name, as the filter grid shows them."""
        out = []
        for name in names:
            field = self[name]
            out.append(f'<div class="field"><label for="{escape(field.id_for_label)}">{escape(str(field.label))}</label>'
                       f"{field}{self.error_slot(name)}</div>")
        return mark_safe("".join(out))

    @property
    def when_choice(self) -> str:
        """"" (from today), "past", "all" or "range" (a typed date range)."""
        if self.is_valid():
            return self.cleaned_data["when"]
        if self.raw("appointmentAfter") or self.raw("appointmentBefore"):
            return "range"
        return self.raw("when") if self.raw("when") in ("past", "all") else ""

    @property
    def default_sort(self) -> str:
        return DEFAULT_SORT_FOR_WHEN[self.when_choice]

    @property
    def sort_key(self) -> str:
        return (self.cleaned_data.get("sort") if self.is_valid() else "") or self.default_sort

    def raw(self, name: str) -> str:
        return (self.data.get(name) or "").strip() if self.is_bound else ""

    def query(self, *, drop=("page",), **overrides) -> str:
        """The current filter as a query string (non-empty values only), with overrides; for links and the export."""
        raw = self.__dict__.get("_raw_params")
        if raw is None:  # the list builds ~20 links from the same submitted values: read them once
            raw = self._raw_params = {k: v for k in ALL_KEYS if (v := self.raw(k))}
        params = {k: v for k, v in raw.items() if k not in drop}
        for key, value in overrides.items():
            if value in (None, ""):
                params.pop(key, None)
            else:
                params[key] = str(value)
        return urlencode(params)

    def active_filters(self) -> list[str]:
        return [k for k in FILTER_KEYS if k not in ("sort", "per_page", "when") and self.raw(k)]


def start_of_today(now: datetime | None = None) -> datetime:
    """Midnight at the start of today in the dashboard's time zone (aware)."""
    zone = timezones.dashboard_zone()
    today = timezone.localtime(now or timezone.now(), zone).date()
    return datetime.combine(today, time(), tzinfo=zone)


def quick_ranges(now: datetime | None = None) -> list[tuple[str, str, str]]:
    """(label, after, before) in dashboard-local dates: today, next 7 days, last 7 days (whole local days)."""
    today = timezone.localtime(now or timezone.now(), timezones.dashboard_zone()).date()
    day = timedelta(days=1)
    return [
        ("Today", today.isoformat(), (today + day).isoformat()),
        ("Next 7 days", today.isoformat(), (today + 7 * day).isoformat()),
        ("Last 7 days", (today - 6 * day).isoformat(), (today + day).isoformat()),
    ]
