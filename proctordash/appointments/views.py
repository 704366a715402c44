"""Appointment screens: the filterable list (page + results fragment), one appointment, the CSV export, saved views,
the review queue (the learner lookup is proctordash/learners/). Views are thin: selectors read the cache, never the upstream."""

from __future__ import annotations

from datetime import datetime, timezone as dt_timezone
from urllib.parse import parse_qsl, urlencode

from django import forms
from django.contrib import messages
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from proctordash.accounts.models import Role
from proctordash.appointments import charts, export, refresh, rendering, selectors
from proctordash.appointments.forms import (DEFAULT_PER_PAGE, FILTER_KEYS, PER_PAGE_CHOICES, AppointmentFilterForm,
                                            quick_ranges)
from proctordash.appointments.models import SavedView
from proctordash.core import vocabulary
from proctordash.sync.freshness import freshness_get
from proctordash.sync.messages import failure_sentence
from proctordash.accounts.permissions import can_edit_course, role_required, staff_required
from proctordash.sync.models import UpstreamState

COLUMNS = [  # (sort key, header) in display order; None = not sortable
    ("appointmentDate", "Appointment"),
    ("learner", "Learner"),
    ("learnerEmail", "E-mail"),
    ("course", "Course"),
    ("exam", "Exam"),
    ("type", "Type"),
    ("status", "Status"),
    ("reviewStatus", "Review"),
    ("reviewByDate", "Review by"),
    ("sessionReportCount", "Reports"),
]
PRIMARY_FIELDS = ["courseSid", "examSid", "status", "reviewStatus"]  # one row at 1366 px, with search and dates
MORE_FIELDS = ["courseOfferingSid", "type", "examStatus", "learnerFirstName", "learnerLastName", "learnerEmail",
               "learnerSid", "courseTitle", "examTitle"]
SESSIONS_POLL_LIMIT = 30  # polls (one a second) before the page stops waiting for the refresh


def _sort_headers(form: AppointmentFilterForm) -> list[dict]:
    """Column headers: the link sorts by that column, the current sort column's link reverses it."""
    current = form.sort_key
    headers = []
    for key, label in COLUMNS:
        if current == key:
            aria, target = "ascending", f"-{key}"
        elif current == f"-{key}":
            aria, target = "descending", key
        else:
            aria, target = None, key
        headers.append({"key": key, "label": label, "aria_sort": aria,
                        "url": "?" + form.query(sort=target if target != form.default_sort else None)})
    return headers


def _page_links(form: AppointmentFilterForm, page: int, last_page: int | None, more: bool) -> dict:
    """`last_page` None: the total is shown as "10,000+" (no Last link); `more`: a next page exists."""
    def url(n: int) -> str:
        return "?" + form.query(drop=(), page=n if n > 1 else None)

    return {
        "first": url(1) if page > 1 else None, "prev": url(page - 1) if page > 1 else None,
        "next": url(page + 1) if more else None,
        "last": url(last_page) if last_page and page < last_page else None,
    }


WHEN_TABS = [("", "From today"), ("past", "Past"), ("all", "All dates")]


def _when_tabs(form: AppointmentFilterForm) -> list[dict]:
    """One click to the upcoming (default), past or every appointment: each drops a typed range and the sort (the
    sort follows the choice: soonest first from today, most recent first in the past)."""
    current = form.when_choice
    return [{"value": value, "label": label, "current": value == current,
             "url": "?" + form.query(drop=("page", "sort", "appointmentAfter", "appointmentBefore"),
                                     when=value or None)}
            for value, label in WHEN_TABS]


def _status_chips(form: AppointmentFilterForm, counts: dict[str, int]) -> list[dict]:
    """Per-status counts as links applying that status (the chip of the status already applied clears it)."""
    current = form.raw("status")
    chips = []
    for status, n in counts.items():
        if not n and status not in vocabulary.APPOINTMENT_STATUSES:
            continue
        active = status == current
        chips.append({"status": status, "count": n, "active": active, "linkable": status != "(none)",
                      "css": charts.STATUS_CLASS.get(status, charts.STATUS_CLASS["(none)"]),
                      "url": "?" + form.query(status=None if active else status)})
    return chips


def _flag_reviews(rows, now) -> None:
    """Mark pending reviews whose deadline passed or is within 24 h (shown with a word and an icon, not colour)."""
    for row in rows:
        row.review_flag = ""
        if row.review_status == "pending" and row.review_by_date is not None:
            if row.review_by_date < now:
                row.review_flag = "overdue"
            elif row.review_by_date < now + selectors.DUE_SOON:
                row.review_flag = "soon"


def _filter_form(request: HttpRequest, *, pickers: bool = True, generation=None) -> AppointmentFilterForm:
    """The bound filter form; `pickers=False` when nothing will render the course/exam/offering selects (the
    results fragment, the export): the SID fields validate by pattern, so their options are display only.
    `generation`: the appointment sync's last success time (the pickers' cache generation; None: never synced)."""
    if not pickers:
        return AppointmentFilterForm(request.GET)
    return AppointmentFilterForm(request.GET, pickers=selectors.picker_widgets(user=request.user, generation=generation))


@require_GET
@staff_required
def appointment_list(request: HttpRequest) -> TemplateResponse:
    """The list. An htmx request (a changed filter, a sort or page link) gets only the #results fragment; an invalid
    filter re-renders with the error beside its field (status 200) and no results rather than half-applied ones."""
    fragment = bool(request.htmx and not request.htmx.history_restore_request)
    freshness = None
    if not fragment:  # one read of the sync's state serves the freshness line and the pickers' cache generation
        state = UpstreamState.objects.filter(upstream="smarterproctoring").first()
        freshness = freshness_get("smarterproctoring", state=state)
        form = _filter_form(request, generation=state.last_success_at if state else None)
    else:
        form = _filter_form(request, pickers=False)
    # the list's own URL, reversed once: the page links to it ~20 times (sort headers, pager, per-page links)
    context = {"form": form, "columns": COLUMNS, "quick_ranges": quick_ranges(), "now": timezone.now(),
               "list_url": reverse("appointments:list")}
    if form.is_valid():
        filters = form.cleaned_data
        qs = selectors.appointment_list(user=request.user, filters=filters)
        per_page = filters.get("per_page") or DEFAULT_PER_PAGE
        overview = selectors.appointment_overview(user=request.user, filters=filters, qs=qs,
                                                  page=filters.get("page") or 1, per_page=per_page)
        total = overview.total
        # past the end: the last page, as Paginator.get_page does (a total shown as "10,000+" has no known end)
        last_page = max(1, -(-total // per_page)) if overview.exact else None
        page = min(filters.get("page") or 1, last_page or (filters.get("page") or 1))
        rows, more = selectors.appointment_page(user=request.user, filters=filters, overview=overview, page=page,
                                                per_page=per_page)
        chart = charts.build_chart(overview.per_day)
        chart.link = lambda after, before: "?" + form.query(appointmentAfter=after, appointmentBefore=before,
                                                            when=None)
        context.update(
            rows=rows, total=total, total_display=overview.display, overview_exact=overview.exact,
            status_chips=_status_chips(form, overview.status_counts),
            page=page, last_page=last_page, per_page=per_page, per_page_choices=PER_PAGE_CHOICES,
            first_row=(page - 1) * per_page + 1 if rows else 0, last_row=(page - 1) * per_page + len(rows),
            chart=chart,
            sort=form.sort_key,
            export_url=reverse("appointments:export") + ("?" + query if (query := form.query()) else ""),
            headers=_sort_headers(form), pages=_page_links(form, page, last_page, more),
            per_page_links=[(n, "?" + form.query(per_page=n if n != DEFAULT_PER_PAGE else None), n == per_page)
                            for n in PER_PAGE_CHOICES],
        )
        _flag_reviews(rows, context["now"])
        context["headers_html"] = rendering.headers_html(context["headers"], list_url=context["list_url"])
        context["rows_html"] = rendering.rows_html(rows, user=request.user, now=context["now"])
    if not fragment:
        context["error_slots"] = form.error_slots()
        context["primary_fields"] = form.fields_html(PRIMARY_FIELDS)
        context["more_fields"] = form.fields_html(MORE_FIELDS)
        context["more_active"] = sum(1 for name in MORE_FIELDS if form.raw(name))
        context["more_open"] = bool(context["more_active"]) or any(form[name].errors for name in MORE_FIELDS)
    else:
        # the error slots beside the fields are replaced out of band only when there is something to show or to clear
        # (static/js/appointments.js says so in a header): 16 out-of-band swaps were a visible share of a change
        if form.errors or request.headers.get("X-Filter-Errors-Shown"):
            context["oob_error_slots"] = form.oob_error_slots()
    context["range_links"] = [(label, "?" + form.query(appointmentAfter=after, appointmentBefore=before, when=None),
                               after, before) for label, after, before in context["quick_ranges"]]
    context["when_tabs"] = _when_tabs(form)
    context["when"] = form.when_choice
    context["today_start"] = form.cleaned_data.get("today_start") if form.is_valid() else None
    context["query_string"] = form.query()
    if fragment:
        return TemplateResponse(request, "appointments/list.html#results", context)
    context["saved_views"] = selectors.saved_view_list(user=request.user)
    if SAVED_VIEW_DRAFT in request.session:  # a refused save: its input and errors, once
        context["saved_view_draft"] = request.session.pop(SAVED_VIEW_DRAFT)
    context["preloaded_freshness"] = freshness
    return TemplateResponse(request, "appointments/list.html", context)


@require_GET
@staff_required
def appointment_export(request: HttpRequest) -> HttpResponse:
    """Every appointment the filter matches (not just one page), streamed: the first bytes leave at once and memory
    stays flat however many rows there are. An invalid filter is refused rather than exported half-applied."""
    form = _filter_form(request, pickers=False)
    if not form.is_valid():
        problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        return HttpResponseBadRequest(f"Invalid filter, nothing exported. {problems}", content_type="text/plain; charset=utf-8")
    parts = selectors.appointment_export_parts(user=request.user, filters=form.cleaned_data)
    response = StreamingHttpResponse(export.csv_rows(parts), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="appointments-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@staff_required
def appointment_detail(request: HttpRequest, sid: str) -> TemplateResponse:
    """One appointment with everything the cache knows. Opening it asks the worker for the learner's fresh exam
    sessions; the page shows the cached ones at once and an htmx poll swaps in the fresh list."""
    appointment = selectors.appointment_get(user=request.user, sid=sid)
    run = refresh.sessions_refresh(appointment=appointment)
    raw = appointment.raw or {}
    configuration = raw.get("examConfiguration") or {}
    context = {
        "appointment": appointment,
        "raw": raw,
        "exam_raw": raw.get("exam") or {},
        "enrollment": raw.get("enrollment") or {},
        "course_raw": raw.get("course") or {},
        "offering": (raw.get("course") or {}).get("offering") or {},
        "configuration": configuration,
        "config_summary": _configuration_summary(configuration),
        "configuration_dates": {key: _parse_date(configuration.get(name)) for key, name in (
            ("exam_open", "examOpenDate"), ("exam_close", "examCloseDate"),
            ("schedule_open", "scheduleOpenDate"), ("schedule_close", "scheduleCloseDate"))},
        "can_edit": can_edit_course(request.user, appointment.course_sid),
        **_sessions_context(request, appointment, run),
        "polling": run is not None and run.outcome in ("queued", "running"),
        "refresh_failed": run is None and bool(appointment.enrollment_sid and appointment.exam_sid),
        "attempt": 0,
        "due_soon": selectors.DUE_SOON,
        "now": timezone.now(),
    }
    if configuration.get("sid") and appointment.course_sid and appointment.exam_sid:
        context["edit_url"] = (f"/courses/{appointment.course_sid}/exams/{appointment.exam_sid}"
                               f"/configurations/{configuration['sid']}/")
    return TemplateResponse(request, "appointments/detail.html", context)


@require_GET
@staff_required
def appointment_sessions(request: HttpRequest, sid: str) -> TemplateResponse:
    """The #sessions fragment the detail page polls while the refresh it asked for runs."""
    appointment = selectors.appointment_get(user=request.user, sid=sid)
    try:
        attempt = max(0, int(request.GET.get("attempt", "0")))
        run_id = int(request.GET.get("run", "0"))
    except ValueError:
        attempt, run_id = SESSIONS_POLL_LIMIT, 0
    run = refresh.run_get(run_id) if run_id else None
    if run is not None and run.scope and appointment.enrollment_sid not in run.scope:
        run = None  # a run of another learner's sessions says nothing about this one
    polling = run is not None and run.outcome in ("queued", "running") and attempt < SESSIONS_POLL_LIMIT
    context = {
        "appointment": appointment,
        **_sessions_context(request, appointment, run),
        "polling": polling, "attempt": attempt + 1, "timed_out": not polling and attempt >= SESSIONS_POLL_LIMIT,
        "refresh_failed": run is None,
    }
    return TemplateResponse(request, "appointments/detail.html#sessions", context)


def _sessions_context(request: HttpRequest, appointment, run) -> dict:
    """The cached exam sessions, when they were last written, and a failed refresh's cause in staff language (the
    exception class and API path stay in the SyncRun and the log)."""
    sessions = selectors.exam_session_list(user=request.user, appointment=appointment)
    return {
        "sessions": sessions, "run": run,
        "sessions_as_of": max((s.last_seen_at for s in sessions if s.last_seen_at), default=None),
        "refresh_problem": failure_sentence(run.error_summary, "SmarterProctoring")
        if run is not None and run.outcome == "failed" else "",
    }


def _parse_date(value) -> datetime | None:
    """An upstream date string (ISO 8601, Z) or None; anything unparseable is shown as unknown, not a 500."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=dt_timezone.utc)


def _configuration_summary(configuration: dict) -> dict:
    items = []
    for item in vocabulary.PERMITTED_ITEMS:
        allowed = configuration.get(f"permitted{item}")
        if allowed is None and not configuration.get(f"permitted{item}Information"):
            continue
        label = {"BathroomBreak": "Bathroom break", "BlankPaper": "Blank paper", "FormulaSheet": "Formula sheet"}.get(item, item)
        items.append({"label": label, "allowed": bool(allowed), "information": configuration.get(f"permitted{item}Information") or ""})
    return {
        "items": items,
        "other": configuration.get("permittedOtherItems") or "",
        "accommodation": bool(configuration.get("enrollmentSid")),
        "password_set": bool(configuration.get("password")),
        "proctor_types": configuration.get("proctorTypes") or [],
    }


# --- saved views ---------------------------------------------------------------------------------------------------
def _clean_query_string(raw: str) -> str:
    """Keep only the filter keys a list URL understands (no page: a saved view opens at its first page)."""
    pairs = [(k, v) for k, v in parse_qsl(raw.lstrip("?"), keep_blank_values=False) if k in FILTER_KEYS]
    return urlencode(pairs)


@require_POST
@staff_required
def saved_view_save(request: HttpRequest) -> HttpResponse:
    """Name the current filter (create, or replace the user's own view of that name). A name or filter that cannot
    be saved (empty or over-long name, a filter longer than a saved view holds) is answered beside the form, with
    what the user typed kept, and nothing saved."""
    form = SavedViewForm(request.POST)
    query_string = _clean_query_string(request.POST.get("query_string") or "")
    list_url = reverse("appointments:list") + ("?" + query_string if query_string else "")
    if not form.is_valid():
        request.session[SAVED_VIEW_DRAFT] = {
            "name": (request.POST.get("name") or "").replace("\x00", "")[:200],
            "shared": request.POST.get("shared") == "on",
            "errors": [str(e) for errors in form.errors.values() for e in errors],
        }
        return redirect(list_url)
    name, shared = form.cleaned_data["name"], form.cleaned_data["shared"]
    try:
        with transaction.atomic():
            SavedView.objects.update_or_create(owner=request.user, name=name,
                                               defaults={"query_string": form.cleaned_data["query_string"],
                                                         "shared": shared})
    except IntegrityError:
        messages.error(request, f"Could not save “{name}”; try again.")
        return redirect(list_url)
    messages.success(request, f"Saved view “{name}”{' (shared with colleagues)' if shared else ''}.")
    return redirect(list_url)


SAVED_VIEW_DRAFT = "appointments:saved_view_draft"  # session key: a refused save's input, shown once


class SavedViewForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True, error_messages={
        "required": "Name: a saved view needs a name; nothing was saved.",
        "max_length": "Name: at most %(limit_value)d characters (it has %(show_value)d); nothing was saved.",
        "null_characters_not_allowed": "Name: must not contain NUL characters; nothing was saved."})
    query_string = forms.CharField(required=False, strip=False)
    shared = forms.BooleanField(required=False)

    def clean_query_string(self) -> str:
        value = _clean_query_string(self.cleaned_data.get("query_string") or "")
        limit = SavedView._meta.get_field("query_string").max_length
        if len(value) > limit:
            raise forms.ValidationError(
                f"Filter: too long to save ({len(value):,} characters in the address; a saved view holds at most "
                f"{limit:,}). Shorten the text filters or remove some; nothing was saved.")
        return value


@require_POST
@staff_required
def saved_view_delete(request: HttpRequest, pk: int) -> HttpResponse:
    view = get_object_or_404(SavedView, pk=pk, owner=request.user)  # only the owner; others get 404
    view.delete()
    messages.success(request, f"Deleted saved view “{view.name}”.")
    return redirect("appointments:list")


# --- review queue ---------------------------------------------------------------------------------
@require_GET
@role_required(Role.COORDINATOR, Role.SUPPORT)
def review_queue(request: HttpRequest) -> TemplateResponse:
    """Appointments that need a review (selectors.review_needed), grouped by urgency, by review-by date."""
    now = timezone.now()
    return TemplateResponse(request, "appointments/review.html", {
        "groups": selectors.review_queue(user=request.user, now=now), "now": now,
        "limit": selectors.REVIEW_GROUP_LIMIT, "list_query": selectors.REVIEW_LIST_QUERY,
    })
