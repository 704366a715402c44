"""The change history across exams (/exams/history/): its filters and the rows with names.

Every path that changes a configuration writes one `ConfigurationChange` with its source — the configuration form
("dashboard"), a bulk change ("bulk"), exam creation ("created"), and changes made outside ProctorDash that a page
open, a save or the periodic drift check noticed ("outside") — so one filter serves them all.

Query-string names (a contract: bookmarks and links carry them): `source`, `course` (a course SID), `user`
(a username), `exam` (an exam SID), `since` and `until` (YYYY-MM-DD, days in DASHBOARD_TIME_ZONE, both inclusive),
`page`.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django import forms

from proctordash.core.timezones import dashboard_zone
from proctordash.core.vocabulary import is_sid
from proctordash.exams.models import ConfigurationChange
from proctordash.exams.names import Names, names_for

PAGE_SIZE = 50
FILTERS = ("source", "course", "exam", "user", "since", "until")


class HistoryFilterForm(forms.Form):
    source = forms.ChoiceField(label="Source", required=False)
    course = forms.CharField(label="Course", required=False, widget=forms.Select)
    exam = forms.CharField(label="Exam", required=False, widget=forms.Select)
    user = forms.CharField(label="Changed by", required=False, max_length=150, widget=forms.Select)
    since = forms.DateField(label="From", required=False, input_formats=["%Y-%m-%d"],
                            widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
                            error_messages={"invalid": "From: enter a date as YYYY-MM-DD."})
    until = forms.DateField(label="To", required=False, input_formats=["%Y-%m-%d"],
                            widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
                            error_messages={"invalid": "To: enter a date as YYYY-MM-DD."})

    def __init__(self, data=None, *, user, **kwargs):
        super().__init__(data, **kwargs)
        self.viewer = user
        self.fields["source"].choices = [("", "Any source")] + list(ConfigurationChange.Source.choices)
        self.fields["source"].error_messages["invalid_choice"] = "Source: choose one of the listed sources."

    def populate(self, *, names: Names, course_sids: list[str], exam_rows: list[tuple[str, str]],
                 usernames: list[str]) -> None:
        """Choices from what the history holds (only what the viewer may see), names as labels, grouped by course."""
        submitted = {k: (self.data.get(k) or "").strip() for k in ("course", "exam", "user")} if self.is_bound else {}
        courses = sorted(course_sids, key=lambda s: (names.course(s).lower() or "~", s))
        course_choices = [("", "Any course")] + [(s, names.course(s) or f"Course not in the cache ({s})")
                                                 for s in courses]
        groups: dict[str, list] = {}
        for course_sid, exam_sid in exam_rows:
            groups.setdefault(course_sid, []).append(
                (exam_sid, names.exam(exam_sid) or f"Exam not in the cache ({exam_sid})"))
        exam_choices: list = [("", "Any exam")]
        for course_sid in sorted(groups, key=lambda s: (names.course(s).lower() or "~", s)):
            options = sorted(groups[course_sid], key=lambda o: (o[1].lower(), o[0]))
            exam_choices.append((names.course(course_sid) or f"Course {course_sid}", options))
        user_choices = [("", "Anyone")] + [(u, u) for u in sorted(usernames, key=str.lower)]
        for name, choices in (("course", course_choices), ("exam", exam_choices), ("user", user_choices)):
            value = submitted.get(name)
            known = {c[0] for c in choices if not isinstance(c[1], list)} | {
                o[0] for c in choices if isinstance(c[1], list) for o in c[1]}
            if value and value not in known:
                choices = choices + [(value, f"{value} (no changes recorded)")]
            self.fields[name].widget.choices = choices

    def clean_course(self) -> str:
        value = (self.cleaned_data.get("course") or "").strip()
        if value and not is_sid("course", value):
            raise forms.ValidationError("Course: not a course of this dashboard (expected a CU… SID).")
        return value

    def clean_exam(self) -> str:
        value = (self.cleaned_data.get("exam") or "").strip()
        if value and not is_sid("exam", value):
            raise forms.ValidationError("Exam: not an exam of this dashboard (expected an EX… SID).")
        return value

    def clean_user(self) -> str:
        return (self.cleaned_data.get("user") or "").strip()

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and until < since:
            self.add_error("until", "To: must be on or after From.")
        return data

    def query(self, **overrides) -> str:
        """The current filters as a query string (for paging links), with overrides."""
        from urllib.parse import urlencode

        params = {k: (self.data.get(k) or "") for k in FILTERS}
        params.update({k: str(v) for k, v in overrides.items()})
        return urlencode({k: v for k, v in params.items() if v})


def _local_midnight(day) -> datetime:
    return datetime.combine(day, time.min, tzinfo=dashboard_zone())


def history_filter(qs, data: dict):
    """Apply cleaned filters to a ConfigurationChange queryset."""
    if data.get("source"):
        qs = qs.filter(source=data["source"])
    if data.get("course"):
        qs = qs.filter(course_sid=data["course"])
    if data.get("exam"):
        qs = qs.filter(exam_sid=data["exam"])
    if data.get("user"):
        qs = qs.filter(user__username=data["user"])
    if data.get("since"):
        qs = qs.filter(created_at__gte=_local_midnight(data["since"]))
    if data.get("until"):
        qs = qs.filter(created_at__lt=_local_midnight(data["until"] + timedelta(days=1)))
    return qs


def history_choices(*, user) -> tuple[list[str], list[tuple[str, str]], list[str]]:
    """(course SIDs, (course, exam) pairs, usernames) that appear in the history the user may see."""
    qs = ConfigurationChange.objects.for_user(user)
    pairs = list(qs.order_by().values_list("course_sid", "exam_sid").distinct())
    usernames = list(qs.exclude(user=None).order_by().values_list("user__username", flat=True).distinct())
    return sorted({c for c, _ in pairs}), pairs, usernames


def history_rows(changes: list[ConfigurationChange], names: Names | None = None) -> list[ConfigurationChange]:
    """The changes, each given the names of its exam (`exam_title`), course (`course_title`) and, for a per-student
    configuration, learner (`learner`) — what the rows show instead of SIDs."""
    if names is None:
        names = names_for(course_sids={c.course_sid for c in changes}, exam_sids={c.exam_sid for c in changes},
                          enrollment_sids={c.enrollment_sid for c in changes})
    for c in changes:
        c.exam_title = names.exam(c.exam_sid)
        c.course_title = names.course(c.course_sid)
        c.learner = names.learners.get(c.enrollment_sid, "")
    return changes
