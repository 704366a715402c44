"""Filters of the monitor and the readiness board, and the refresh request of the health page."""

from __future__ import annotations

from django import forms

from proctordash.core.vocabulary import PROCTOREXAM_SESSION_STATUSES
from proctordash.sync.models import SyncRun
from proctordash.monitoring.selectors import status_label


class MonitorFilterForm(forms.Form):
    """Bound to request.GET (page) or request.POST (poll). `exam` choices are the open exams."""

    exam = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Exam")
    status = forms.ChoiceField(required=False, label="Status",
                               choices=[("", "Any status")] + [(s, status_label(s)) for s in PROCTOREXAM_SESSION_STATUSES])
    show = forms.ChoiceField(required=False, label="Show",
                             choices=[("", "All sessions"), ("attention", "Needs attention (stuck or new incidents)")])

    def __init__(self, *args, exams=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["exam"].choices = [("", "All open exams")] + [(e.id, e.name or f"Exam {e.id}") for e in exams]


class ReadinessForm(forms.Form):
    days = forms.IntegerField(min_value=1, max_value=14, required=False, label="Days ahead",
                              widget=forms.NumberInput(attrs={"size": 3}))


REFRESH_KINDS = [
    (SyncRun.Kind.PROCTOREXAM.value, "ProctorExam sessions"),
    (SyncRun.Kind.APPOINTMENTS_INCREMENTAL.value, "SmarterProctoring appointments (changes only)"),
    (SyncRun.Kind.APPOINTMENTS_FULL.value, "SmarterProctoring appointments (full pass)"),
]


class RefreshForm(forms.Form):
    kind = forms.ChoiceField(choices=REFRESH_KINDS, label="Refresh")
