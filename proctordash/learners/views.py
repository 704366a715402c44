"""The learner lookup (/appointments/learners/?q=, the header's "Find a learner" box) and one learner's page across
both vendors (/appointments/learners/person/?email= | ?sid= | ?session=)."""

from __future__ import annotations

from django.http import Http404, HttpRequest
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET

from proctordash.accounts.permissions import staff_required
from proctordash.learners import selectors
from proctordash.learners.forms import LearnerLookupForm, PersonForm


@require_GET
@staff_required
def lookup(request: HttpRequest) -> TemplateResponse:
    """One search box for a learner across both upstreams (name, e-mail or either vendor's ID); one row per person,
    their records joined by normalised e-mail, each a link to the person's page."""
    form = LearnerLookupForm(request.GET)
    query = form.cleaned_data["q"] if form.is_valid() else ""
    result = selectors.learner_lookup(user=request.user, query=query) if query else None
    return TemplateResponse(request, "learners/lookup.html", {
        "form": form, "query": query, "result": result, "limit": selectors.LOOKUP_LIMIT,
    })


@require_GET
@staff_required
def person(request: HttpRequest) -> TemplateResponse:
    """One learner: SmarterProctoring enrollments and appointments, ProctorExam student sessions matched by e-mail.
    404 when the caches hold nothing the user may see for that e-mail, SID or session."""
    form = PersonForm(request.GET)
    if not form.is_valid() or not any(form.cleaned_data.values()):
        raise Http404("No such learner")
    records = selectors.person_get(user=request.user, **form.cleaned_data)
    if records is None:
        raise Http404("No such learner")
    return TemplateResponse(request, "learners/person.html", {"person": records, "limit": selectors.PERSON_LIMIT})
