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
import secrets
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
from proctordash.core.spreadsheet import inert_cell
from proctordash.core.timezones import dashboard_zone, format_in_zone
from proctordash.monitoring import health as health_selectors
from proctordash.monitoring import selectors
from proctordash.monitoring.forms import MonitorFilterForm, ReadinessForm, RefreshForm
from proctordash.sync.models import SyncRun, UpstreamState
from proctordash.monitoring.rows import RowRenderer, number

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
    """The browser's "key:version" list, in page order; malformed entries are dropped (they simply re-render).
    Keys are element ids the answer may name in a selector: only letters, digits, '-' and '_' pass."""
    have = []
    for item in value.split(","):
        key, _, version = item.strip().partition(":")
        if version and _SAFE_KEY.match(key):
            have.append((key, version))
    return have


def _parse_show_filters(form: MonitorFilterForm) -> tuple[int | None, str, str]:
    if form.is_valid():
        return form.cleaned_data["exam"], form.cleaned_data["status"], form.cleaned_data["show"]
    # A bad filter value (a stale bookmark, an exam that closed) shows its error and is ignored, not a 500.
    exam_id = form.cleaned_data.get("exam") if "exam" not in form.errors else None
    status = form.cleaned_data.get("status", "") if "status" not in form.errors else ""
    show = form.cleaned_data.get("show", "") if "show" not in form.errors else ""
    return exam_id, status, show


def _monitor_context(request: HttpRequest, data, *, since: datetime | None, open_ids: set[int],
                     expand: dict, now: datetime, timelines: bool = True) -> dict:
    """Everything the monitor shows: the filter form, the layout of the table (selectors.monitor_layout), the
    summary and the freshness banner, each with the version the poll compares."""
    exams = selectors.open_exams()
    form = MonitorFilterForm(data, exams=sorted(exams.values(), key=lambda e: e.order))
    exam_id, status, show = _parse_show_filters(form)
    layout = selectors.monitor_layout(exam_id=exam_id, status=status, since=since, open_ids=open_ids, now=now,
                                      exams=exams, attention_only=show == "attention", expand=expand,
                                      timelines=timelines)
    summary = dict(layout.figures)
    summary_version = selectors._version(tuple(sorted(summary.items())), since.isoformat() if since else "",
                                         layout.appointments_shown)
    states = {s.upstream: s for s in UpstreamState.objects.filter(upstream__in=["proctorexam", "smarterproctoring"])}
    fresh = [freshness_get(u, now=now, state=states.get(u)) for u in ("proctorexam", "smarterproctoring")]
    since_iso = since.isoformat() if since else ""
    page_query = {"exam": "" if exam_id is None else str(exam_id), "status": status, "show": show,
                  "open": ",".join(str(i) for i in sorted(open_ids))}
    return {
        "form": form,
        "layout": layout,
        "summary": summary,
        "summary_version": summary_version,
        "freshness_list": fresh,
        "freshness_version": freshness_banner_version(fresh, now=now),
        "since": since,
        "since_iso": since_iso,
        "poll_seconds": settings.MONITOR_POLL_SECONDS,
        "rows_renderer": RowRenderer(request=request, since_iso=since_iso, page_query=page_query,
                                     expand=layout.expand),
        "attention_url": f"{reverse('monitoring:monitor')}?show=attention",
        "zone_abbr": now.astimezone(dashboard_zone()).tzname(),
        "thresholds": {
            "setup": settings.MONITOR_SETUP_STUCK_AFTER // 60,
            "grace": settings.MONITOR_OVERRUN_GRACE // 60,
            "no_recording": settings.MONITOR_NO_RECORDING_AFTER // 60,
        },
    }


def freshness_banner_version(fresh: list, *, now) -> str:
    """The version of the monitor's freshness banner: a poll re-renders it when this changes. Everything the banner
    shows is in it; "3 min ago" makes it change each minute, and a pause (Redis gone) at once, so the next poll
    tells the support desk that the data on screen stopped refreshing. It starts with the upstreams whose banner is
    a warning ("-" for none), which the poll reads back to announce a change to a warning once (the banner itself is
    not a live region on the monitor: its ticking age must never be read out)."""
    warnings = "".join(f.upstream[0] for f in fresh if f.is_warning) or "-"
    # only a banner that shows an age ("3 min ago", "running for 4 min") changes with the minute
    ticking = any(f.as_of or f.error_at or f.running_since for f in fresh)
    return warnings + "." + selectors._version(
        tuple((f.state, f.as_of, f.error, f.error_at, f.rate_limited_until, f.paused, f.running_since, f.overdue)
              for f in fresh),
        now.strftime("%Y%m%d%H%M") if ticking else "")


def _parse_expand_request(data) -> dict:
    return selectors.parse_expand(data.getlist("expand"))


@require_GET
@monitoring_staff
def monitor(request: HttpRequest) -> TemplateResponse:
    """/monitor/: what needs a person first, then what runs, then what is coming; the rest counted per exam.

    A full page load without `since` is a new "look": incidents first seen since the previous look are highlighted,
    and the look is remembered in the session. A load that carries the page's `since` (an htmx filter change or
    expansion, or the same as plain links with JavaScript off) keeps highlighting against that moment; htmx requests
    get the #monitor-live region."""
    now = timezone.now()
    open_ids = _parse_ids(request.GET.getlist("open"))
    since = _parse_since(request.GET.get("since"), now=now)
    if since is None:
        if request.htmx:
            since = now
        else:
            since = _parse_since(request.session.get(LAST_LOOK_KEY), now=now) or now
            request.session[LAST_LOOK_KEY] = now.isoformat()
    context = _monitor_context(request, request.GET, since=since, open_ids=open_ids,
                               expand=_parse_expand_request(request.GET), now=now)
    template = "monitoring/monitor.html#live" if request.htmx else "monitoring/monitor.html"
    return TemplateResponse(request, template, context)


@require_POST
@never_cache
@monitoring_staff
def monitor_poll(request: HttpRequest) -> HttpResponse:
    """The 15-second poll: only what changed since the versions the browser holds, as out-of-band swaps, and a
    sentence for the live region when a session became stuck or got new incidents."""
    if not request.htmx:
        return redirect("monitoring:monitor")
    now = timezone.now()
    since = _parse_since(request.POST.get("since"), now=now) or now
    open_ids = _parse_ids(request.POST.getlist("open"))
    context = _monitor_context(request, request.POST, since=since, open_ids=open_ids,
                               expand=_parse_expand_request(request.POST), now=now, timelines=False)
    have = _parse_have(request.POST.get("have", ""))
    versions = dict(have)
    layout: selectors.MonitorLayout = context["layout"]
    renderer: RowRenderer = context["rows_renderer"]

    # The answer's shape matters to the browser's HTML parser: table parts (<tbody>) only parse inside a table or a
    # <template>. So the units swapped in place travel inside one <template> (htmx 2 reads OOB swaps there), each
    # inserted unit inside a <table> wrapper that htmx strips, and deletes as <div>s (a moved row is deleted and
    # inserted again: its id twice in one answer, which htmx cannot tell apart; the delete's selector spares the
    # copy this answer inserts).
    parts: list[str] = []
    in_place: list[str] = []
    tail: list[str] = []

    def render(partial: str, **extra) -> str:
        return render_to_string(f"monitoring/monitor.html#{partial}", {**context, "oob": True, **extra},
                                request=request)

    if versions.get("monitor-freshness") != context["freshness_version"]:
        parts.append(render("freshness_box"))
    if versions.get("monitor-summary") != context["summary_version"]:
        parts.append(render("summary"))
    plan = unit_change_plan([key for key, _ in have if key.startswith(UNIT_PREFIXES)], [u.key for u in layout.units])
    if plan is None:  # many units came or went: the whole table
        selectors.attach_timelines(layout.sessions, since=since)
        parts.append(render("table"))
    else:
        by_key = {unit.key: unit for unit in layout.units}
        changed = [u for u in layout.units if u.key not in plan.inserted and versions.get(u.key) != u.version]
        inserted = [by_key[key] for key, _ in plan.inserts]
        selectors.attach_timelines([u.item for u in changed + inserted if u.kind == "session"], since=since)
        mark = "p" + secrets.token_hex(4)
        # Deletes first: htmx inserts before every element matching the neighbour's id, so a moved unit's old copy
        # must be gone before anything is inserted next to it (htmx applies them in document order).
        tail.extend(_delete_html(key, mark=mark) for key in plan.deleted)
        for key, before in plan.inserts:
            tail.append(_insert_html(renderer.unit(by_key[key], updated=True), key=key, mark=mark, before=before,
                                     table_id="monitor-table"))
        in_place.extend(renderer.unit(unit, oob=True) for unit in changed)
    if in_place:
        parts.append("<template>" + "".join(in_place) + "</template>")
    parts.extend(tail)
    announcement = announcement_text(layout, versions, context["freshness_list"])
    if announcement:
        parts.append(f'<div id="monitor-announce" hx-swap-oob="innerHTML">{escape(announcement)}</div>')
    if not parts:
        return HttpResponse(status=204)
    return HttpResponse("".join(parts))


UNIT_PREFIXES = ("pe-", "sp-", "g-", "c-")
MAX_ANNOUNCED = 3


def announcement_text(layout: selectors.MonitorLayout, versions: dict[str, str], freshness: list) -> str:
    """What the live region says after a poll: only what a person must act on — a session or appointment that
    became stuck or flagged, new incidents — and data that stopped refreshing. Never a count or an age that merely
    moved. Read from the versions the browser holds (a row's version carries its flag code and new-incident count,
    selectors.parse_row_version), so nothing is kept on the server; a row the page did not show before is news only
    when the attention group was already listed row by row (not on the first poll after the list grew or changed)."""
    messages_: list[str] = []
    head = layout.heads.get(selectors.ATTENTION)
    old_head = versions.get("g-attention", "")
    old_parts = old_head.split(".")
    if head is not None and len(old_parts) == 3 and old_parts[0].isdecimal():
        old_count, old_listed = int(old_parts[0]), old_parts[1] in ("L", "P")
        if (head.listed or head.partial) and old_listed:
            for unit in layout.units:
                item = unit.item
                if unit.kind not in ("session", "appointment") or item.group != selectors.ATTENTION:
                    continue
                old = selectors.parse_row_version(versions.get(unit.key))
                old_code, old_new = old if old is not None else (0, 0)
                if unit.kind == "session":
                    who = f"{item.name or 'A learner'} ({item.exam_label})"
                    if item.code and not old_code:
                        messages_.append(f"{who} looks stuck: {item.flag}.")
                    if item.new_incidents > old_new:
                        n = item.new_incidents - old_new
                        messages_.append(f"{'A new incident' if n == 1 else f'{number(n)} new incidents'} for {who}.")
                elif item.code and item.code != old_code:
                    messages_.append(f"{item.learner_name or 'A learner'} ({item.exam_label}): {item.flag}.")
        elif head.count > old_count:
            more = head.count - old_count
            messages_.append(f"{number(more)} more {'session needs' if more == 1 else 'sessions need'} attention "
                             f"({number(head.count)} in all), counted per exam.")
    text = " ".join(messages_[:MAX_ANNOUNCED])
    if len(messages_) > MAX_ANNOUNCED:
        text += f" And {len(messages_) - MAX_ANNOUNCED} more changes that need attention."
    old_fresh = versions.get("monitor-freshness", "")
    if old_fresh.startswith("-.") and any(f.is_warning for f in freshness):
        names = " and ".join(f.label for f in freshness if f.is_warning)
        text = (text + " " if text else "") + f"Warning: the {names} data on this page are not being refreshed."
    return text


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


def unit_change_plan(have: list[str], want: list[str]) -> SetChangePlan | None:
    """set_change_plan for the monitor's table, section by section: the group headings (g-…) never move, so a row
    that changes group is deleted from its old section and inserted into the new one, and a change inside one group
    never shifts a heading. None (the whole table) when the headings differ or too many rows come."""
    if have == want:
        return SetChangePlan([], [], set())
    if not all(_SAFE_KEY.match(k) for k in want):
        return None
    have_sections, want_sections = _sections(have), _sections(want)
    if [h for h, _ in have_sections] != [h for h, _ in want_sections]:
        return None
    deleted: list[str] = []
    inserts: list[tuple[str, str | None]] = []
    for i, ((_, have_keys), (_, want_keys)) in enumerate(zip(have_sections, want_sections)):
        if have_keys == want_keys:
            continue
        end = want_sections[i + 1][0] if i + 1 < len(want_sections) else None  # the next heading, or the table's end
        plan = set_change_plan(have_keys, want_keys) if have_keys and want_keys else None
        if plan is None:  # one side empty (or nothing in place to keep): the section's rows go and come in order
            deleted.extend(have_keys)
            inserts.extend((key, end) for key in want_keys)
        else:
            deleted.extend(plan.deleted)
            inserts.extend((key, before or end) for key, before in plan.inserts)
    if len(inserts) > MAX_ROW_INSERTS:
        return None
    return SetChangePlan(deleted, inserts, {key for key, _ in inserts})


def _sections(keys: list[str]) -> list[tuple[str | None, list[str]]]:
    sections: list[tuple[str | None, list[str]]] = [(None, [])]
    for key in keys:
        if key.startswith("g-"):
            sections.append((key, []))
        else:
            sections[-1][1].append(key)
    return sections


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


def _delete_html(key: str, *, mark: str) -> str:
    """Remove a unit, but not the one this answer inserts under the same id (see monitor_poll)."""
    return f'<div hx-swap-oob="delete:#monitor-table tbody#{key}:not([data-poll={mark}])"></div>'


def _insert_html(unit_html: str, *, key: str, mark: str, before: str | None, table_id: str) -> str:
    """A new unit as an out-of-band insert, marked with this answer's `mark`. htmx strips the wrapper for
    beforebegin/beforeend; the wrapper is a <table> because a <tbody> is only parsed inside one."""
    where = f"beforebegin:#{before}" if before else f"beforeend:#{table_id}"
    unit_html = unit_html.replace(f'<tbody id="{key}"', f'<tbody id="{key}" data-poll="{mark}"', 1)
    return f'<table hx-swap-oob="{where}">{unit_html}</table>'


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
        is_open = request.GET.get("open", "1") != "0"
        row = selectors.session_unit(session_id, since=since, open_ids={session_id} if is_open else set(), now=now)
        if row is None:
            raise Http404("This session is no longer live")
        renderer = RowRenderer(request=request, since_iso=since.isoformat() if since else "")
        return HttpResponse(renderer.session(row))
    incidents = selectors.incidents_for(session_id, since=since)
    live = selectors.session_unit(session_id, since=since, open_ids=set(), now=now)  # None once its exam closed
    return TemplateResponse(request, "monitoring/session.html", {
        "session": session, "incidents": incidents, "status_label": selectors.status_label(session.status),
        "live": live, "group_label": selectors.GROUP_LABELS.get(live.group, "") if live else "",
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
            writer.writerow([inert_cell(v) for v in (learner.name, learner.email, learner.exam, learner.course,
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
