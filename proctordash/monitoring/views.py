"""The live monitor, the readiness board, the health page and /healthz. Every view reads the local cache only.

The monitor's poll (monitor_poll) is a POST because the browser sends the version of every row it shows
("have": `pe-12:3fa9c0e1b2d4,sp-AP…:…` in page order, which can be long); the answer holds only the rows whose
version differs, as htmx out-of-band swaps, or the whole table when rows appeared or disappeared, or 204 when
nothing changed. Nothing in the answer depends on state kept on the server, so any web worker can answer it.
"""

from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import escape
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from proctordash.accounts.models import Role
from proctordash.sync import engine as sync
from proctordash.sync.freshness import freshness_get
from proctordash.accounts.permissions import can_trigger_refresh, role_required
from proctordash.core.timezones import dashboard_zone, format_in_zone
from proctordash.monitoring import health as health_selectors
from proctordash.monitoring import selectors
from proctordash.monitoring.forms import MonitorFilterForm, ReadinessForm, RefreshForm
from proctordash.sync.models import SyncRun
from proctordash.monitoring.rows import RowRenderer

log = logging.getLogger(__name__)
monitoring_staff = role_required(Role.COORDINATOR, Role.SUPPORT)

LAST_LOOK_KEY = "monitoring:last_look"
MAX_LOOK_AGE = timedelta(days=7)


# --- the live monitor ----------------------------------------------------------------------------------------------
def _parse_since(value: str | None, *, now: datetime) -> datetime | None:
    """The `since` the page was rendered with (ISO 8601, aware), clamped to the last week; None if unusable."""
    if not value:
        return None
    try:
        parsed = parse_datetime(value.strip().replace(" ", "+"))  # a '+' in a query string arrives as a space
    except ValueError:
        return None
    if parsed is None or timezone.is_naive(parsed):
        return None
    return max(min(parsed, now), now - MAX_LOOK_AGE)


def _parse_ids(values: list[str]) -> set[int]:
    ids = set()
    for value in values:
        for part in value.split(","):
            part = part.strip().removeprefix("pe-")
            if part.isdecimal() and len(part) < 19:
                ids.add(int(part))
    return ids


def _parse_have(value: str) -> list[tuple[str, str]]:
    """The browser's "key:version" list, in page order; malformed entries are dropped (they simply re-render)."""
    have = []
    for item in value.split(","):
        key, _, version = item.strip().partition(":")
        if key and version and len(key) < 60:
            have.append((key, version))
    return have


def _monitor_context(request: HttpRequest, data, *, since: datetime | None, open_ids: set[int], now: datetime,
                     full: bool = True) -> dict:
    """Everything the monitor shows. With full=False the sessions come only in their light form (`index`) and
    the poll builds the few rows it must render itself (see monitor_poll)."""
    exams = selectors.open_exams()
    form = MonitorFilterForm(data, exams=sorted(exams.values(), key=lambda e: e.order))
    exam_id, status, show = None, "", ""
    if form.is_valid():
        exam_id, status, show = form.cleaned_data["exam"], form.cleaned_data["status"], form.cleaned_data["show"]
    else:
        # A bad filter value (a stale bookmark, an exam that closed) shows its error and is ignored, not a 500.
        exam_id = form.cleaned_data.get("exam") if "exam" not in form.errors else None
        status = form.cleaned_data.get("status", "") if "status" not in form.errors else ""
        show = form.cleaned_data.get("show", "") if "show" not in form.errors else ""
    filters = {"exam_id": exam_id, "status": status, "since": since, "open_ids": open_ids, "now": now, "exams": exams,
               "attention_only": show == "attention"}
    if full:  # the page builds every row anyway: its index comes from them (one session query, not two)
        sessions = selectors.monitor_sessions(**filters)
        index = selectors.index_of(sessions)
    else:
        sessions, index = [], selectors.session_index(**filters)
    appointments = selectors.monitor_appointments(now=now)
    summary = {
        "sessions": len(index),
        "running": sum(1 for s in index if s.status in selectors.RUNNING_STATUSES),
        "stuck": sum(1 for s in index if s.flag),
        "with_new": sum(1 for s in index if s.new),
        "new_incidents": sum(s.new for s in index),
        "incidents": sum(s.incidents for s in index),
        "appointments": len(appointments),
        "needs_proctor": sum(1 for a in appointments if a.status == "Needs Proctor"),
        "sp_flagged": sum(1 for a in appointments if a.flag),
        "open_exams": len(exams),
    }
    summary_version = selectors._version(tuple(sorted(summary.items())), since.isoformat() if since else "")
    fresh = [freshness_get("proctorexam", now=now), freshness_get("smarterproctoring", now=now)]
    freshness_version = freshness_banner_version(fresh, now=now)
    return {
        "form": form,
        "filters": filters,
        "index": index,
        "sessions": sessions,
        "appointments": appointments,
        "summary": summary,
        "summary_version": summary_version,
        "freshness_list": fresh,
        "freshness_version": freshness_version,
        "since": since,
        "since_iso": since.isoformat() if since else "",
        "poll_seconds": settings.MONITOR_POLL_SECONDS,
        "thresholds": {
            "setup": settings.MONITOR_SETUP_STUCK_AFTER // 60,
            "grace": settings.MONITOR_OVERRUN_GRACE // 60,
            "no_recording": settings.MONITOR_NO_RECORDING_AFTER // 60,
        },
    }


def freshness_banner_version(fresh: list, *, now) -> str:
    """The version of the monitor's freshness banner: a poll re-renders it when this changes. Everything the banner
    shows is in it; "3 min ago" makes it change each minute, and a pause (Redis gone) at once, so the next poll
    tells the support desk that the data on screen stopped refreshing."""
    return selectors._version(
        tuple((f.state, f.as_of, f.error, f.error_at, f.rate_limited_until, f.paused) for f in fresh),
        now.strftime("%Y%m%d%H%M"))


@require_GET
@monitoring_staff
def monitor(request: HttpRequest) -> TemplateResponse:
    """/monitor/: live ProctorExam sessions and SmarterProctoring appointments. A full page load is a new "look":
    incidents first seen since the previous look are highlighted, and the look is remembered in the session. An htmx
    request (filter change) keeps the `since` of the page it came from and answers the #monitor-live region."""
    now = timezone.now()
    open_ids = _parse_ids(request.GET.getlist("open"))
    if request.htmx:
        since = _parse_since(request.GET.get("since"), now=now) or now
    else:
        since = _parse_since(request.session.get(LAST_LOOK_KEY), now=now) or now
        request.session[LAST_LOOK_KEY] = now.isoformat()
    context = _monitor_context(request, request.GET, since=since, open_ids=open_ids, now=now)
    template = "monitoring/monitor.html#live" if request.htmx else "monitoring/monitor.html"
    return TemplateResponse(request, template, context)


@require_POST
@never_cache
@monitoring_staff
def monitor_poll(request: HttpRequest) -> HttpResponse:
    """The 15-second poll: only what changed since the versions the browser holds, as out-of-band swaps."""
    if not request.htmx:
        return redirect("monitoring:monitor")
    now = timezone.now()
    since = _parse_since(request.POST.get("since"), now=now) or now
    open_ids = _parse_ids(request.POST.getlist("open"))
    context = _monitor_context(request, request.POST, since=since, open_ids=open_ids, now=now, full=False)
    have = _parse_have(request.POST.get("have", ""))
    versions = dict(have)

    parts: list[str] = []
    rows_html = RowRenderer(request=request, since_iso=context["since_iso"])

    def render(partial: str, **extra) -> None:
        parts.append(render_to_string(f"monitoring/monitor.html#{partial}", {**context, "oob": True, **extra},
                                      request=request))

    if versions.get("monitor-freshness") != context["freshness_version"]:
        render("freshness_box")
    if versions.get("monitor-summary") != context["summary_version"]:
        render("summary")
    # ProctorExam sessions: compare the light index; build and render only what must be sent.
    index = context["index"]
    plan = set_change_plan([key for key, _ in have if key.startswith("pe-")], [row.key for row in index])
    if plan is None:
        render("pe_table", sessions=selectors.monitor_sessions(**context["filters"]))  # many rows came or went
    else:
        kept = {row.id for row in index if row.key not in plan.inserted}
        changed = {row.id for row in index if row.id in kept and versions.get(row.key) != row.version}
        wanted = changed | {row.id for row in index if row.key in plan.inserted}
        built = {row.key: row for row in selectors.monitor_sessions(**context["filters"], only_ids=wanted)} \
            if wanted else {}
        parts.extend(_delete_html(key) for key in plan.deleted)
        for key, before in plan.inserts:
            if key in built:
                parts.append(_insert_html(rows_html.session(built[key], updated=True), before=before,
                                          table_id="pe-table"))
        parts.extend(rows_html.session(built[f"pe-{sid}"], oob=True) for sid in sorted(changed)
                     if f"pe-{sid}" in built)
    # SmarterProctoring appointments: a short list, built in full; the same row-level protocol.
    appointments = context["appointments"]
    plan = set_change_plan([key for key, _ in have if key.startswith("sp-")], [row.key for row in appointments])
    if plan is None:
        render("sp_table")
    else:
        parts.extend(_delete_html(key) for key in plan.deleted)
        by_key = {row.key: row for row in appointments}
        for key, before in plan.inserts:
            parts.append(_insert_html(rows_html.appointment(by_key[key], updated=True), before=before,
                                      table_id="sp-table"))
        for row in appointments:
            if row.key not in plan.inserted and versions.get(row.key) != row.version:
                parts.append(rows_html.appointment(row, oob=True))
    if not parts:
        return HttpResponse(status=204)
    return HttpResponse("".join(parts))


# --- the poll's row-set changes ---------------------------------------------------------------------------------------
# A session that appears or leaves is one inserted or deleted <tbody>, not a new table: the answer stays small and
# the browser keeps everything else (scroll position, open timelines, focus). A new row goes before its right-hand
# neighbour in the page's order (exam, learner, id), so the order stays exactly what a full load would show.
MAX_ROW_INSERTS = 200  # beyond this a whole table is as cheap to send and simpler for the browser to swap
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_-]{1,60}$")  # ids usable in a CSS selector as they are


@dataclass
class SetChangePlan:
    deleted: list[str]  # keys to remove (rows that left, and rows that moved: they are re-inserted)
    inserts: list[tuple[str, str | None]]  # (key, key of the row it goes before, None = at the end), apply in order
    inserted: set[str]


def set_change_plan(have: list[str], want: list[str]) -> SetChangePlan | None:
    """How to turn the browser's rows (`have`, page order) into `want` (server order) with row deletes and inserts,
    or None when a whole table is the better answer (an empty table on either side, too many inserts, odd keys).

    Rows whose relative order changed (a renamed learner) are moved: deleted and re-inserted. The rows that stay
    are the longest run already in the right order, so a move costs one row, not the rows around it."""
    if have == want:
        return SetChangePlan([], [], set())
    if not have or not want or not all(_SAFE_KEY.match(k) for k in want):
        return None
    position = {key: i for i, key in enumerate(want)}
    seen: set[str] = set()
    kept: list[str] = []
    deleted: list[str] = []
    for key in have:
        if key in seen:
            continue
        seen.add(key)
        (kept if key in position else deleted).append(key)
    stay = set(_longest_increasing(kept, position))
    moved = [key for key in kept if key not in stay]
    inserts: list[tuple[str, str | None]] = []
    after: str | None = None
    for key in reversed(want):  # right to left: each row's right-hand neighbour is already in place
        if key not in stay:
            inserts.append((key, after))
        after = key
    if len(inserts) > MAX_ROW_INSERTS or not stay:
        return None
    return SetChangePlan(deleted + moved, inserts, {key for key, _ in inserts})


def _longest_increasing(keys: list[str], position: dict[str, int]) -> list[str]:
    """The longest subsequence of `keys` whose positions increase (patience sorting, O(n log n))."""
    import bisect

    tails: list[int] = []  # position values
    tail_index: list[int] = []
    parent: list[int] = [-1] * len(keys)
    for i, key in enumerate(keys):
        p = position[key]
        j = bisect.bisect_left(tails, p)
        if j == len(tails):
            tails.append(p)
            tail_index.append(i)
        else:
            tails[j] = p
            tail_index[j] = i
        parent[i] = tail_index[j - 1] if j else -1
    result: list[str] = []
    i = tail_index[-1] if tail_index else -1
    while i != -1:
        result.append(keys[i])
        i = parent[i]
    return result[::-1]


def _delete_html(key: str) -> str:
    return f'<tbody id="{escape(key)}" hx-swap-oob="delete"></tbody>'


def _insert_html(row_html: str, *, before: str | None, table_id: str) -> str:
    """A new row as an out-of-band insert. htmx strips the wrapper for beforebegin/beforeend; the wrapper is a
    <table> because a <tbody> is only parsed inside one."""
    where = f"beforebegin:#{before}" if before else f"beforeend:#{table_id}"
    return f'<table hx-swap-oob="{where}">{row_html}</table>'



@require_GET
@monitoring_staff
def session_detail(request: HttpRequest, session_id: int) -> TemplateResponse:
    """A session's incident timeline. htmx: the session's row group with the timeline opened (or closed with
    ?open=0) in place; plain HTML: a page of its own."""
    now = timezone.now()
    session = selectors.session_get(session_id)
    if session is None:
        raise Http404("No such student session")
    since = _parse_since(request.GET.get("since"), now=now) or _parse_since(request.session.get(LAST_LOOK_KEY), now=now)
    if request.htmx:
        exams = selectors.open_exams()
        is_open = request.GET.get("open", "1") != "0"
        rows = selectors.monitor_sessions(exam_id=session.exam_id, since=since, open_ids={session_id} if is_open else set(),
                                          now=now, exams=exams) if session.exam_id in exams else []
        row = next((r for r in rows if r.id == session_id), None)
        if row is None:
            raise Http404("This session is no longer live")
        return TemplateResponse(request, "monitoring/monitor.html#session_row",
                                {"row": row, "since_iso": since.isoformat() if since else "", "oob": False})
    incidents = selectors.incidents_for(session_id, since=since)
    return TemplateResponse(request, "monitoring/session.html", {
        "session": session, "incidents": incidents, "status_label": selectors.status_label(session.status),
        "checks": [(label, *selectors.check_state(getattr(session, column))) for column, label in selectors.SYSTEM_CHECKS],
    })


# --- readiness -----------------------------------------------------------------------------------------------------
def _readiness(request: HttpRequest) -> tuple[ReadinessForm, int, selectors.ReadinessBoard]:
    form = ReadinessForm(request.GET or None)
    days = settings.READINESS_DAYS
    if form.is_bound and form.is_valid() and form.cleaned_data["days"]:
        days = form.cleaned_data["days"]
    return form, days, selectors.readiness_groups(days=days)


@require_GET
@monitoring_staff
def readiness(request: HttpRequest) -> TemplateResponse:
    """/monitor/readiness/: learners not ready for exams open now or opening in the coming days, counted per exam."""
    form, days, board = _readiness(request)
    exams = board.exams
    context = {"form": form, "days": days, "board": board, "exams": exams,
               "learners": board.learners,
               "needs_proctor": sum(e.needs_proctor for e in exams),
               "checks_pending": sum(e.checks_pending for e in exams)}
    template = "monitoring/readiness.html#board" if request.htmx else "monitoring/readiness.html"
    return TemplateResponse(request, template, context)


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_safe(value) -> str:
    """A spreadsheet must never run upstream text as a formula: such cells get a leading apostrophe."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


@require_GET
@monitoring_staff
def readiness_export(request: HttpRequest) -> HttpResponse:
    """The readiness board's learners as a contact list (CSV)."""
    _, days, board = _readiness(request)
    exams = board.exams
    stamp = timezone.now().astimezone(dashboard_zone()).strftime("%Y%m%d-%H%M")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="readiness-{days}d-{stamp}.csv"'
    response.write("\ufeff")  # so spreadsheet programs read UTF-8 names correctly
    writer = csv.writer(response)
    writer.writerow(["Learner", "E-mail", "Exam", "Course", "Service", "Reason", f"When ({settings.DASHBOARD_TIME_ZONE})"])
    for exam in exams:
        for learner in exam.learners:
            when = format_in_zone(learner.when, dashboard_zone()) if learner.when else ""
            writer.writerow([csv_safe(v) for v in (learner.name, learner.email, learner.exam, learner.course,
                                                   learner.upstream, learner.reason, when)])
    return response


# --- health --------------------------------------------------------------------------------------------------------
def _run_context(run: SyncRun | None) -> dict:
    if run is None:
        return {"run": None}
    percent = None
    if run.pages_total:
        percent = min(100, round(100 * run.pages / run.pages_total))
    elif run.records_expected:
        percent = min(100, round(100 * run.records_seen / run.records_expected))
    active = run.outcome in (SyncRun.Outcome.QUEUED, SyncRun.Outcome.RUNNING)
    return {"run": run, "percent": percent, "active": active}


@require_GET
@monitoring_staff
def health(request: HttpRequest) -> TemplateResponse:
    """/health/: is the dashboard's own data trustworthy, and is the machinery behind it alive? `?kind=` preselects
    the refresh kind (after a plain-HTML refresh that could not be queued, the user's choice is kept)."""
    kind = request.GET.get("kind", "")
    initial = {"kind": kind} if kind in dict(RefreshForm.base_fields["kind"].choices) else {}
    return _health_page(request, refresh_form=RefreshForm(initial=initial))


def _health_page(request: HttpRequest, *, refresh_form: RefreshForm) -> TemplateResponse:
    now = timezone.now()
    run = None
    if request.GET.get("run", "").isdecimal():
        run = sync.run_get(int(request.GET["run"]))
    context = {
        "upstreams": health_selectors.upstream_health(now=now),
        "celery": health_selectors.celery_health(now=now),
        "runs": health_selectors.recent_runs(),
        "refresh_form": refresh_form,
        "can_refresh": can_trigger_refresh(request.user),
        "now": now,
        **_run_context(run),
    }
    return TemplateResponse(request, "monitoring/health.html", context)


@require_POST
@monitoring_staff
def health_refresh(request: HttpRequest) -> HttpResponse:
    """Queue a refresh (or join the one already queued or running) and show its progress."""
    if not can_trigger_refresh(request.user):
        raise PermissionDenied("Your role may not trigger a refresh")
    form = RefreshForm(request.POST)
    if not form.is_valid():
        if not request.htmx:  # a plain form post (no JavaScript) gets the whole page with the error in place
            return _health_page(request, refresh_form=form)
        context = {"refresh_form": form, "can_refresh": True, "run": None}
        return TemplateResponse(request, "monitoring/health.html#refresh", context)
    try:
        run = sync.refresh_request(kind=form.cleaned_data["kind"])
    except Exception as exc:  # noqa: BLE001 - Redis down (or the queue otherwise unusable): say so, keep the choice
        log.warning("refresh request failed: %s", type(exc).__name__)
        reason = (health_selectors.describe_redis_error(exc) if isinstance(exc, redis.RedisError)
                  else "the task queue did not answer")
        text = (f"The refresh could not be queued ({reason}). The data already held are still shown; "
                "try again in a moment.")
        if not request.htmx:
            # A plain form post (no JavaScript) must land on a whole page, never on the bare panel fragment.
            messages.error(request, text)
            return redirect(f"{reverse('monitoring:health')}?kind={form.cleaned_data['kind']}")
        form.add_error(None, text)
        context = {"refresh_form": form, "can_refresh": True, "run": None}
        return TemplateResponse(request, "monitoring/health.html#refresh", context)
    if request.htmx:
        context = {"refresh_form": RefreshForm(initial={"kind": form.cleaned_data["kind"]}), "can_refresh": True,
                   **_run_context(run)}
        return TemplateResponse(request, "monitoring/health.html#refresh", context)
    return redirect(f"{reverse('monitoring:health')}?run={run.pk}")


@require_GET
@never_cache
@monitoring_staff
def health_run(request: HttpRequest, run_id: int) -> TemplateResponse:
    """One run's progress bar; htmx polls it every second while the run is queued or running."""
    run = sync.run_get(run_id)
    if run is None:
        raise Http404("No such refresh")
    if not request.htmx:
        return redirect(f"{reverse('monitoring:health')}?run={run.pk}")
    return TemplateResponse(request, "monitoring/health.html#progress", _run_context(run))


@login_not_required
@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """For load balancers: database and Redis reachability and the data's age; 200 or 503. No personal data."""
    healthy, body = health_selectors.healthz_report()
    return JsonResponse(body, status=200 if healthy else 503)
