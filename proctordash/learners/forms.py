"""The learner lookup's form and the person page's keys."""

from __future__ import annotations

from django import forms

from proctordash.core import vocabulary


class LearnerLookupForm(forms.Form):
    """The learner lookup's one box (also the header's "Find a learner"). A CharField refuses NUL characters and
    over-long input with an error naming the box, instead of a database error."""

    q = forms.CharField(required=False, max_length=200, label="Name, e-mail or an ID from either vendor")


class PersonForm(forms.Form):
    """Which learner: an e-mail (matched normalised), a SmarterProctoring learner SID or a ProctorExam session id."""

    email = forms.CharField(required=False, max_length=300)
    sid = forms.RegexField(required=False, regex=vocabulary.SID_PATTERNS["user"])
    session = forms.RegexField(required=False, regex=r"^[0-9]{1,18}$")
