"""The learner lookup's form."""

from __future__ import annotations

from django import forms


class LearnerLookupForm(forms.Form):
    """The learner lookup's one box (also the header's "Find a learner"). A CharField refuses NUL characters and
    over-long input with an error naming the box, instead of a database error."""

    q = forms.CharField(required=False, max_length=200, label="Name, e-mail or learner SID")
