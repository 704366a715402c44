"""The learner lookup: /appointments/learners/?q= (the header's "Find a learner" box)."""

from __future__ import annotations

from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET

from proctordash.accounts.permissions import staff_required
from proctordash.learners import selectors
from proctordash.learners.forms import LearnerLookupForm


@require_GET
@staff_required
def lookup(request: HttpRequest) -> TemplateResponse:
    """One search box for a learner across both upstreams (name, e-mail or SID)."""
    form = LearnerLookupForm(request.GET)
    query = form.cleaned_data["q"] if form.is_valid() else ""
    result = selectors.learner_lookup(user=request.user, query=query) if query else None
    learners = []
    if result:
        by_learner: dict[tuple, dict] = {}
        for row in result.appointments:
            key = (row.learner_sid or row.learner_email or row.learner_name)
            entry = by_learner.setdefault(key, {"name": row.learner_name, "email": row.learner_email,
                                                "sid": row.learner_sid, "appointments": []})
            entry["appointments"].append(row)
        learners = list(by_learner.values())
    return TemplateResponse(request, "learners/lookup.html", {
        "form": form, "query": query, "result": result, "learners": learners, "limit": selectors.LOOKUP_LIMIT,
    })
