"""Exam configuration pages and exam creation. Thin views: permission check, form, one service call, render.

Every view checks the course first (instructors: 404 for a course not theirs, for pages, fragments and POSTs);
POSTs need edit rights (support: 403). An htmx request gets the form fragment, a success gets HX-Redirect.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone as dt_timezone

from django.conf import settings
from django.contrib import messages
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from proctordash.accounts.models import Role
from proctordash.accounts.permissions import (
    can_edit_course,
    require_course_edit,
    require_course_view,
    role_required,
    staff_required,
    user_role,
    visible_course_sids,
)
from proctordash.core.http import upstream_budget
from proctordash.core.vocabulary import is_sid
from proctordash.exams import fields as F_
from proctordash.exams import selectors, services
from proctordash.exams.forms import input_text as forms_input_text
from proctordash.exams.forms import password_alt as forms_password_alt
from proctordash.exams.forms import (
    ConfigurationBundle,
    CreateBundle,
    formset_data_with_extra,
    formset_data_without,
)
from proctordash.exams.models import CachedConfiguration, ConfigurationChange, ConfigurationSave, ExamCreation

log = logging.getLogger(__name__)

SNAPSHOT_SALT = "proctordash.exams.configuration-base"


def _check_sids(**sids: str) -> None:
    for kind, value in sids.items():
        if not is_sid(kind, value):
            raise Http404(f"Not a {kind} SID")


def _snapshot(raw: dict, *, password_shown: bool = True) -> str:
    """The form's version token: the editable values it was opened with (password as a digest), signed so a
    tampered page cannot pretend to be current. `p`: whether the form showed the password (a form built from a
    saved copy does not, and reads an empty password box as "keep")."""
    values = F_.values_of(raw)
    token = {"s": raw.get("sid"), "v": values, "h": F_.values_hash(values), "p": password_shown}
    password = raw.get("password")
    if password_shown and isinstance(password, str) and forms_input_text(password) != password:
        token["q"] = forms_password_alt(password)  # as a password box shows it (no line breaks)
    return signing.dumps(token, salt=SNAPSHOT_SALT, compress=True)


@dataclass(frozen=True)
class Snapshot:
    values: dict
    hash: str
    password_shown: bool
    password_alt: str

    def bundle_args(self) -> dict:
        return {"base": self.values, "password_shown": self.password_shown, "password_alt": self.password_alt}


def _read_snapshot(token: str, configuration_sid: str) -> Snapshot | None:
    try:
        data = signing.loads(token or "", salt=SNAPSHOT_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("s") != configuration_sid or not isinstance(data.get("v"), dict):
        return None
    return Snapshot(data["v"], str(data.get("h", "")), bool(data.get("p", True)), str(data.get("q", "")))


def _not_found(request: HttpRequest, message: str) -> TemplateResponse:
    """A 404 in the dashboard's layout that says what was not found (never which course it belongs to)."""
    return TemplateResponse(request, "exams/not_found.html", {"message": message}, status=404)


CONFIGURATION_NOT_FOUND = ("SmarterProctoring does not know this exam configuration: it may have been deleted "
                           "there, or the link is out of date. Open the exam again from the exams list.")


def _bundle_options(course_sid: str) -> dict:
    """Labels learned from synced data for the form's pickers (proctor types, modality option keys)."""
    try:
        return {"proctor_types": selectors.proctor_type_options(course_sid=course_sid),
                "modality_keys": selectors.modality_keys(course_sid=course_sid)}
    except Exception:  # noqa: BLE001 - labels are a nicety: Redis or the cache down must not take the page with it
        log.warning("exams: proctor type / modality labels unavailable", exc_info=True)
        return {}


def _respond(request: HttpRequest, template: str, partial: str, context: dict) -> TemplateResponse:
    if request.htmx and not request.htmx.boosted:
        return TemplateResponse(request, f"{template}#{partial}", context)
    return TemplateResponse(request, template, context)


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _row_action(request: HttpRequest, data):
    """Add/remove a slot or attachment row (plain form buttons, so it works without JavaScript). Returns the new
    data or None when the request is not a row action."""
    action = request.POST.get("action", "save")
    if action == "add_slot":
        return formset_data_with_extra(data, "slots")
    if action == "add_attachment":
        return formset_data_with_extra(data, "attachments")
    for prefix in ("slots", "attachments"):
        if action.startswith(f"remove_{prefix}:"):
            try:
                return formset_data_without(data, prefix, int(action.split(":", 1)[1]))
            except ValueError:
                return data
    return None


# --- configuration page --------------------------------------------------------------------------------------------
@staff_required
@never_cache  # the page shows the exam password (read live): no copy in any cache, nor in the browser's history
@require_http_methods(["GET", "POST"])
def configuration(request: HttpRequest, course_sid: str, exam_sid: str, configuration_sid: str):
    """View (everyone who may see the course) and edit (editors) one exam configuration."""
    _check_sids(course=course_sid, exam=exam_sid, exam_configuration=configuration_sid)
    require_course_view(request.user, course_sid)
    if selectors.exam_in_other_course(course_sid=course_sid, exam_sid=exam_sid, configuration_sid=configuration_sid):
        raise Http404("This exam belongs to another course")
    page_url = reverse("exams:configuration", args=[course_sid, exam_sid, configuration_sid])
    validate_url = reverse("exams:configuration_validate", args=[course_sid, exam_sid, configuration_sid])
    ctx = {"course_sid": course_sid, "exam_sid": exam_sid, "configuration_sid": configuration_sid,
           "page_url": page_url, "can_edit": can_edit_course(request.user, course_sid), "show_errors": True}
    options = _bundle_options(course_sid)

    if request.method == "GET":
        if request.htmx and "since" in request.GET:
            return _configuration_poll(request, ctx, options)
        try:
            with upstream_budget():
                loaded = services.configuration_get(course_sid=course_sid, exam_sid=exam_sid,
                                                    configuration_sid=configuration_sid, fetch_in_background=True)
        except services.ConfigurationNotFound:
            return _not_found(request, CONFIGURATION_NOT_FOUND)
        except services.ConfigurationUnavailable as e:
            ctx.update(_page_context(request, ctx, raw=None))
            ctx.update(unavailable=e.message, refreshing=e.refreshing, since=0)
            return TemplateResponse(request, "exams/configuration.html", ctx)
        return _render_loaded(request, ctx, loaded, options)

    # POST: only editors, for every action
    require_course_edit(request.user, course_sid)
    snapshot_token = request.POST.get("base", "")
    base = _read_snapshot(snapshot_token, configuration_sid)
    ctx.update(editable=True, snapshot=snapshot_token)
    data = request.POST
    action = request.POST.get("action", "save")

    if base is None:
        bundle = ConfigurationBundle(data, **options)
        bundle.enable_inline_validation(validate_url)
        bundle.suppress_errors()
        ctx.update(_page_context(request, ctx, raw=None), bundle=bundle, show_errors=False,
                   banner=("error", "This form could not be verified (it may come from an old page). Your edits are "
                                    "shown below, but nothing was sent: copy them, then reload the page."))
        return _respond(request, "exams/configuration.html", "config-form", ctx)
    base_values, base_hash = base.values, base.hash
    bundle_args = {**base.bundle_args(), **options}

    new_data = _row_action(request, data)
    if new_data is not None:
        bundle = ConfigurationBundle(new_data, **bundle_args)
        bundle.enable_inline_validation(validate_url)
        bundle.suppress_errors()
        ctx.update(_page_context(request, ctx, raw=None), bundle=bundle, show_errors=False)
        return _respond(request, "exams/configuration.html", "config-form", ctx)

    bundle = ConfigurationBundle(data, **bundle_args)
    bundle.enable_inline_validation(validate_url)
    ctx.update(_page_context(request, ctx, raw=None), bundle=bundle)
    if not bundle.is_valid():
        ctx["banner"] = ("error", "Nothing was saved: correct the fields marked below.")
        return _respond(request, "exams/configuration.html", "config-form", ctx)
    new_values = bundle.values()

    if action == "reapply":
        return _reapply(request, ctx, base_values=base_values, new_values=new_values, validate_url=validate_url,
                        options=options)

    try:
        outcome = services.configuration_save(
            user=request.user, course_sid=course_sid, exam_sid=exam_sid, configuration_sid=configuration_sid,
            base_hash=base_hash, base_values=base_values, new_values=new_values,
            reason=request.POST.get("reason", "").strip(), confirmed=request.POST.get("confirm_near_open") == "yes")
    except services.ConfigurationNotFound:
        return _not_found(request, CONFIGURATION_NOT_FOUND + " Nothing was sent.")
    if outcome.kind in ("saved", "unchanged"):
        (messages.success if outcome.kind == "saved" else messages.info)(request, outcome.message)
        return _redirect(request, page_url)
    ctx["outcome"] = outcome
    if outcome.kind in ("background", "busy"):
        ctx["job"] = outcome.job
        ctx["banner"] = ("info", outcome.message)
    elif outcome.kind == "invalid":
        bundle.add_upstream_errors(outcome.field_errors)
        ctx["banner"] = ("error", outcome.message)
    elif outcome.kind == "conflict":
        ctx["conflict"] = outcome
        ctx["new_base"] = _snapshot(outcome.current_raw)
    elif outcome.kind == "confirm":
        ctx["confirm"] = outcome
    elif outcome.kind == "locked":
        ctx["banner"] = ("error", outcome.message)
        ctx["editable"] = False
        for form in bundle.all_forms():
            for f in form.fields.values():
                f.disabled = True
    else:  # failed
        ctx["banner"] = ("error", outcome.message)
        ctx["retry"] = True
    return _respond(request, "exams/configuration.html", "config-form", ctx)


COPY_EDITABLE = timedelta(minutes=2)  # a copy the worker fetched this recently can be edited (a save checks first)


def _render_loaded(request, ctx: dict, loaded, options: dict, *, partial: str | None = None):
    """The page (or its #config-main part) for a configuration read live or from the cached copy.

    Live: editable by editors unless locked. A copy: editable only when it is fresh (COPY_EDITABLE: the worker just
    read it because the page could not), with the password not shown (an empty box keeps it); an older copy is
    read-only. While the worker is asked for a fresh copy and the page is read-only, the page polls for it."""
    copy_fresh = not loaded.live and timezone.now() - loaded.fetched_at <= COPY_EDITABLE
    editable = ctx["can_edit"] and (loaded.live or copy_fresh) and loaded.raw.get("locked") is not True
    bundle = ConfigurationBundle(raw=loaded.raw, disabled=not editable, password_shown=loaded.live, **options)
    if editable:
        bundle.enable_inline_validation(reverse("exams:configuration_validate", args=[
            ctx["course_sid"], ctx["exam_sid"], ctx["configuration_sid"]]))
    ctx.update(_page_context(request, ctx, raw=loaded.raw))
    ctx.update(loaded=loaded, bundle=bundle, editable=editable,
               snapshot=_snapshot(loaded.raw, password_shown=loaded.live) if editable else "",
               refreshing=loaded.refreshing and not editable, since=f"{loaded.fetched_at.timestamp():.6f}")
    template = "exams/configuration.html" + (f"#{partial}" if partial else "")
    return TemplateResponse(request, template, ctx)


def _configuration_poll(request, ctx: dict, options: dict):
    """htmx poll of a page showing an old copy while the worker fetches the current version: 204 while it is still
    on its way; the page's #config-main built from the copy it stored once it is there; the copy shown with the
    reason when the worker gave up."""
    try:
        since = float(request.GET.get("since", "0"))
    except ValueError:
        since = 0.0
    cached = CachedConfiguration.objects.filter(sid=ctx["configuration_sid"], course_sid=ctx["course_sid"],
                                                exam_sid=ctx["exam_sid"]).first()
    if cached is not None and cached.fetched_at.timestamp() > since + 1e-6:
        loaded = services.Loaded(raw=dict(cached.raw), live=False, fetched_at=cached.fetched_at,
                                 error="SmarterProctoring was too slow to answer the page; ProctorDash's background "
                                       "worker has just read it.")
        return _render_loaded(request, ctx, loaded, options, partial="config-main")
    state = services.configuration_fetch_state(configuration_sid=ctx["configuration_sid"])
    if state and state.get("state") in ("queued", "running"):
        return HttpResponse(status=204)
    reason = (state or {}).get("message") or "SmarterProctoring did not answer the background worker either."
    if cached is None:
        ctx.update(_page_context(request, ctx, raw=None))
        ctx.update(unavailable=reason, refreshing=False)
        return TemplateResponse(request, "exams/configuration.html#config-main", ctx)
    loaded = services.Loaded(raw=dict(cached.raw), live=False, fetched_at=cached.fetched_at, error=reason)
    return _render_loaded(request, ctx, loaded, options, partial="config-main")


@staff_required
@never_cache
def configuration_save_status(request: HttpRequest, course_sid: str, exam_sid: str, configuration_sid: str,
                              save_id):
    """The outcome of a save completed in the background: the #save-job panel (htmx poll) or a page (JS off)."""
    _check_sids(course=course_sid, exam=exam_sid, exam_configuration=configuration_sid)
    require_course_view(request.user, course_sid)
    job = ConfigurationSave.objects.filter(pk=save_id, course_sid=course_sid, exam_sid=exam_sid,
                                           configuration_sid=configuration_sid).first()
    if job is None or (job.user_id not in (None, request.user.pk) and user_role(request.user) != Role.COORDINATOR):
        raise Http404("No such save")
    page_url = reverse("exams:configuration", args=[course_sid, exam_sid, configuration_sid])
    if request.htmx and job.status in (ConfigurationSave.Status.SAVED, ConfigurationSave.Status.UNCHANGED):
        (messages.success if job.status == ConfigurationSave.Status.SAVED else messages.info)(request, job.message)
        return HttpResponseClientRedirect(page_url)
    ctx = {"job": job, "page_url": page_url, "course_sid": course_sid, "exam_sid": exam_sid,
           "configuration_sid": configuration_sid, "exam": selectors.exam_get(course_sid=course_sid, exam_sid=exam_sid),
           "course": selectors.course_get(course_sid)}
    return _respond(request, "exams/save_status.html", "save-job", ctx)


def _reapply(request, ctx, *, base_values: dict, new_values: dict, validate_url: str, options: dict):
    """One click after a conflict: the user's changes (against the version they opened: fields.changes_between, so
    a textarea's CRLF or an untouched null is not a change) put onto the version now upstream, shown for review with
    the new version token. Nothing is sent yet."""
    changes = F_.changes_between(base_values, new_values)
    try:
        with upstream_budget():
            current = services.configuration_get(course_sid=ctx["course_sid"], exam_sid=ctx["exam_sid"],
                                                 configuration_sid=ctx["configuration_sid"])
    except services.ConfigurationNotFound:
        return _not_found(request, CONFIGURATION_NOT_FOUND + " Nothing was sent.")
    except services.ConfigurationUnavailable:
        current = None
    if current is None or not current.live:
        ctx["banner"] = ("error", "SmarterProctoring did not answer, so your changes could not be reapplied yet. "
                                  "Your edits are still in the form; try again.")
        ctx["retry"] = True
        return _respond(request, "exams/configuration.html", "config-form", ctx)
    applied = F_.apply_changes(current.raw, changes)
    bundle = ConfigurationBundle(raw=applied, **options)
    bundle.enable_inline_validation(validate_url)
    # against the live password in clear (in memory only): a base digest from before compares exactly; one that
    # cannot be compared makes a changed password a clash, as the save would (services.configuration_update)
    moved = F_.changes_between(base_values, F_.values_of(current.raw, keep_password=True))
    ctx.update(bundle=bundle, snapshot=_snapshot(current.raw), show_errors=False,
               reapplied=[F_.BY_KEY[k].label for k in changes],
               clashes=[F_.BY_KEY[k].label for k in changes if k in moved],
               banner=("info", "Your changes are now applied onto the latest version from SmarterProctoring. "
                               "Review them and press Save." if changes else
                               "You had changed nothing, so the form now shows the latest version from "
                               "SmarterProctoring."))
    ctx.update(_page_context(request, ctx, raw=current.raw))
    return _respond(request, "exams/configuration.html", "config-form", ctx)


def _page_context(request, ctx: dict, *, raw: dict | None) -> dict:
    """The parts of the page around the form: names, facts, guard rails, history, accommodation register. Every
    lookup is scoped to the course in the URL."""
    course_sid, exam_sid, config_sid = ctx["course_sid"], ctx["exam_sid"], ctx["configuration_sid"]
    if raw is None:
        cached = CachedConfiguration.objects.filter(sid=config_sid, course_sid=course_sid, exam_sid=exam_sid).first()
        raw = cached.raw if cached else {}
    enrollment_sid = raw.get("enrollmentSid") if isinstance(raw.get("enrollmentSid"), str) else ""
    out = {
        "raw": raw,
        "exam": selectors.exam_get(course_sid=course_sid, exam_sid=exam_sid),
        "course": selectors.course_get(course_sid),
        "history": list(services.history_list(user=request.user, configuration_sid=config_sid,
                                              course_sid=course_sid)[:30]),
        "password_set": bool(raw.get("password")),
        "edit_date": F_.parse_date(raw.get("editDate")),
        "guard": services.configuration_guard(raw=raw) if raw else None,
        "enrollment_sid": enrollment_sid,
    }
    if raw and not enrollment_sid:
        out["accommodations"] = services.accommodations_list(user=request.user, course_sid=course_sid,
                                                             exam_sid=exam_sid)
    if enrollment_sid:
        out["learner"] = selectors.learner_get(course_sid=course_sid, enrollment_sid=enrollment_sid)
        ref = raw.get("referenceExamConfigurationSid") or raw.get("refConfigSid")
        if isinstance(ref, str) and is_sid("exam_configuration", ref):
            out["base_url"] = reverse("exams:configuration", args=[course_sid, exam_sid, ref])
        elif ref:
            out["odd_reference"] = str(ref)[:80]  # shown as text, never turned into a link
    return out


@staff_required
@require_POST
def configuration_validate(request: HttpRequest, course_sid: str, exam_sid: str, configuration_sid: str):
    """Inline validation of one field as the user leaves it (htmx): the field's error slot, filled or empty."""
    _check_sids(course=course_sid, exam=exam_sid, exam_configuration=configuration_sid)
    require_course_edit(request.user, course_sid)
    base = _read_snapshot(request.POST.get("base", ""), configuration_sid)
    bundle = ConfigurationBundle(request.POST, **(base.bundle_args() if base else {}))
    bundle.is_valid()
    return _validation_fragment(request, bundle.errors_by_name())


def _validation_fragment(request, errors: dict[str, list[str]]):
    name = request.POST.get("_field", "")[:120]
    return TemplateResponse(request, "exams/_field_error.html", {"html_name": name, "errors": errors.get(name, [])})


# --- index, history, accommodations --------------------------------------------------------------------------------
@staff_required
def index(request: HttpRequest):
    """Where to start: the user's exams from the cache, searchable by exam title and course (`q`), named in words,
    with their configurations and changes made outside ProctorDash. `go=new|register&course=<course SID>` (the
    course picker's two buttons, plain GET so it works without JavaScript) lead to that course's create page or
    accommodation register."""
    from proctordash.appointments.models import Course
    from proctordash.exams.exam_index import MAX_QUERY, exams_index

    go = {"new": "exams:new", "register": "exams:accommodations"}.get(request.GET.get("go", ""))
    if go:
        target = request.GET.get("course", "")
        if not is_sid("course", target):
            raise Http404("Not a course")
        return redirect(go, course_sid=target)
    q = request.GET.get("q", "").replace("\x00", "").strip()[:MAX_QUERY]  # PostgreSQL's text holds no NUL
    role = user_role(request.user)
    sids = visible_course_sids(request.user)
    fragment = bool(request.htmx and not request.htmx.boosted)
    if role == Role.SUPPORT or fragment:  # the picker is not part of the results fragment
        creatable = []
    elif sids is None:
        creatable = list(Course.objects.order_by().values_list("sid", flat=True))
    else:
        creatable = sorted(sids)
    page, rows, outside_count, labels = exams_index(user=request.user, q=q, page=request.GET.get("page"),
                                                    also_name=creatable)
    creatable = sorted(((sid, labels[sid].label if sid in labels else "") for sid in creatable),
                       key=lambda c: (c[1].lower() or "~", c[0]))
    pending = ExamCreation.objects.for_user(request.user).exclude(status=ExamCreation.Status.CREATED)[:20]
    ctx = {
        "rows": rows, "page": page, "q": q, "creatable": creatable, "pending": pending,
        "outside_count": outside_count, "drift_days": settings.DRIFT_CHECK_DAYS,
        "drift_run": _drift_run_for_page() if role in (Role.COORDINATOR, Role.SUPPORT) else None,
        "show_bulk": role in (Role.COORDINATOR, Role.SUPPORT), "show_history": role == Role.COORDINATOR,
    }
    return _respond(request, "exams/index.html", "exam-results", ctx)


def _drift_run_for_page() -> dict | None:
    from django.utils.dateparse import parse_datetime

    from proctordash.exams import drift

    run = drift.drift_last_run()
    if not run or not run.get("finished_at"):
        return None
    return {**run, "finished": parse_datetime(run["finished_at"])}


@role_required(Role.COORDINATOR)
def history(request: HttpRequest):
    """Coordinators: every recorded configuration change across all exams, newest first, filtered by source,
    course, exam, user and date (exams/history.py); rows name the exam, course and learner."""
    from proctordash.exams import history as H
    from proctordash.exams.names import names_for

    form = H.HistoryFilterForm(request.GET or None, user=request.user)
    qs = ConfigurationChange.objects.for_user(request.user).select_related("user")
    valid = form.is_valid() if form.is_bound else True
    if not valid:
        qs = qs.none()  # errors are shown beside the filters; no rows that the filters did not ask for
    elif form.is_bound:
        qs = H.history_filter(qs, form.cleaned_data)
    page = Paginator(qs, H.PAGE_SIZE).get_page(request.GET.get("page"))
    changes = list(page.object_list)
    course_sids, pairs, usernames = H.history_choices(user=request.user)
    names = names_for(course_sids=set(course_sids) | {c.course_sid for c in changes},
                      exam_sids={e for _, e in pairs} | {c.exam_sid for c in changes},
                      enrollment_sids={c.enrollment_sid for c in changes})
    form.populate(names=names, course_sids=course_sids, exam_rows=pairs, usernames=usernames)
    return _respond(request, "exams/history.html", "history-table", {
        "form": form, "page": page, "changes": H.history_rows(changes, names), "valid": valid,
        "filtered": form.is_bound and valid and any(form.cleaned_data.get(k) for k in H.FILTERS)})


@staff_required
@require_http_methods(["GET", "POST"])
def accommodations(request: HttpRequest, course_sid: str):
    """The accommodation register of a course: per-student configurations and what differs from the base."""
    _check_sids(course=course_sid)
    require_course_view(request.user, course_sid)
    if request.method == "POST":
        require_course_edit(request.user, course_sid)
        if services.configurations_refresh_course_request(course_sid=course_sid):
            messages.info(request, "ProctorDash is fetching this course's configurations from SmarterProctoring in "
                                   "the background; this page updates itself when they are in.")
        else:
            messages.warning(request, "The background worker cannot be reached right now, so the configurations "
                                      "were not fetched; the register shows what ProctorDash already has.")
        return _redirect(request, reverse("exams:accommodations", args=[course_sid]))
    items = services.accommodations_list(user=request.user, course_sid=course_sid)
    refresh = services.configurations_refresh_course_state(course_sid=course_sid)
    return _respond(request, "exams/accommodations.html", "register", {
        "course_sid": course_sid, "items": items, "can_edit": can_edit_course(request.user, course_sid),
        "course": selectors.course_get(course_sid), "refresh": refresh,
        "refreshing": bool(refresh and refresh.get("state") in ("queued", "running")),
        "refreshed_at": datetime.fromtimestamp(refresh["at"], tz=dt_timezone.utc) if refresh else None})


# --- create an exam ------------------------------------------------------------------------------------------------
def _form_key(value) -> str | None:
    try:
        return str(uuid.UUID(str(value)))
    except (ValueError, TypeError, AttributeError):
        return None


def _creation_of(request, course_sid: str, key: str | None) -> ExamCreation | None:
    """The creation sent with this key, when it is this course's and this person's (coordinators: anyone's)."""
    if key is None:
        return None
    creation = ExamCreation.objects.filter(key=key).first()
    if creation is None:
        return None
    if creation.course_sid != course_sid or (creation.user_id not in (None, request.user.pk)
                                             and user_role(request.user) != Role.COORDINATOR):
        return None
    return creation


def _already_sent_message(creation: ExamCreation) -> str:
    from proctordash.core.timezones import dashboard_zone, format_in_zone

    when = format_in_zone(creation.sent_at or creation.created_at, dashboard_zone())
    return (f"This form was already sent: exam “{creation.title}” was created at {when}. Nothing was created "
            "again; here it is.")


def _creation_url(creation: ExamCreation) -> str:
    if creation.exam_sid and creation.configuration_sid:
        return reverse("exams:configuration", args=[creation.course_sid, creation.exam_sid,
                                                    creation.configuration_sid])
    return reverse("exams:creation", args=[creation.course_sid, creation.key])


@staff_required
@never_cache  # the re-rendered form holds the typed exam password; Back must ask the server again (the key decides)
@require_http_methods(["GET", "POST"])
def exam_new(request: HttpRequest, course_sid: str):
    """Create an exam with its full configuration, exactly once per form.

    The form's idempotency key lives in its URL (`?key=`) as well as in a hidden field: GET without a key redirects
    to a fresh one, so the history entry the user comes Back to, a reload and a re-render all carry the same key.
    A key already used for a created exam leads to that exam (with a message), never to a second one."""
    _check_sids(course=course_sid)
    require_course_edit(request.user, course_sid)
    validate_url = reverse("exams:new_validate", args=[course_sid])
    base_url = reverse("exams:new", args=[course_sid])
    course = selectors.course_get(course_sid)
    ctx = {"course_sid": course_sid, "course": course, "show_errors": True, "fresh_url": base_url}
    options = _bundle_options(course_sid)

    if request.method == "GET":
        key = _form_key(request.GET.get("key"))
        if key is None:
            return redirect(f"{base_url}?key={uuid.uuid4()}")
        creation = ExamCreation.objects.filter(key=key).first()
        if creation is not None and _creation_of(request, course_sid, key) is None:
            return redirect(f"{base_url}?key={uuid.uuid4()}")  # someone else's key: start a fresh form
        ctx["page_url"] = f"{base_url}?key={key}"
        if creation is not None and creation.status == ExamCreation.Status.CREATED:
            ctx.update(already=creation, already_message=_already_sent_message(creation),
                       already_url=_creation_url(creation))
            return TemplateResponse(request, "exams/new.html", ctx)
        bundle = CreateBundle(initial={"idempotency_key": key}, **options)
        bundle.enable_inline_validation(validate_url)
        ctx["bundle"] = bundle
        if creation is not None:  # sent before and not (known to be) created: say so above the form
            outcome = services.exam_creation_status(creation=creation)
            ctx.update(outcome=outcome, creation=creation)
            if outcome.kind == "failed":
                ctx["banner"] = ("error", outcome.message + " Fill in the form and send it again.")
            elif outcome.kind in ("unknown", "sending"):
                ctx["banner"] = ("error" if outcome.kind == "unknown" else "info", outcome.message)
        return TemplateResponse(request, "exams/new.html", ctx)

    key = _form_key(request.POST.get("idempotency_key"))
    ctx["page_url"] = f"{base_url}?key={key}" if key else base_url
    action = request.POST.get("action", "save")
    if key is not None:
        creation = ExamCreation.objects.filter(key=key).first()
        if creation is not None and creation.course_sid != course_sid:
            raise Http404("No such exam creation")
        if creation is not None and creation.user_id not in (None, request.user.pk) and user_role(
                request.user) != Role.COORDINATOR:
            raise PermissionDenied("This form was sent by someone else")
        # The same form sent again (Back, reload, double click, an old tab): what it already did decides, whatever
        # the fields now say.
        if creation is not None and creation.status == ExamCreation.Status.CREATED:
            messages.info(request, _already_sent_message(creation))
            return _redirect(request, _creation_url(creation))
        if creation is not None and creation.status == ExamCreation.Status.UNKNOWN and action == "check":
            bundle = CreateBundle(request.POST, **options)
            bundle.enable_inline_validation(validate_url)
            ctx.update(bundle=bundle, show_errors=False)
            with upstream_budget():
                outcome = services.exam_creation_resolve(
                    creation=creation, exam_sid=request.POST.get("found_exam_sid", "").strip(),
                    configuration_sid=request.POST.get("found_configuration_sid", "").strip())
            return _create_outcome(request, ctx, outcome)
        if creation is not None and creation.status == ExamCreation.Status.SENDING:
            bundle = CreateBundle(request.POST, **options)
            ctx.update(bundle=bundle, show_errors=False)
            return _create_outcome(request, ctx, services.exam_creation_status(creation=creation))

    new_data = _row_action(request, request.POST)
    if new_data is not None:
        bundle = CreateBundle(new_data, **options)
        bundle.enable_inline_validation(validate_url)
        bundle.suppress_errors()
        return _respond(request, "exams/new.html", "create-form", {**ctx, "bundle": bundle, "show_errors": False})
    bundle = CreateBundle(request.POST, **options)
    bundle.enable_inline_validation(validate_url)
    ctx["bundle"] = bundle
    if not bundle.is_valid():
        ctx["banner"] = ("error", "Nothing was sent: correct the fields marked below.")
        return _respond(request, "exams/new.html", "create-form", ctx)
    key = str(bundle.exam.cleaned_data["idempotency_key"])
    creation = ExamCreation.objects.filter(key=key).first()
    if creation is not None and creation.status == ExamCreation.Status.UNKNOWN:
        if action != "resend":
            return _create_outcome(request, ctx, services.exam_creation_status(creation=creation))
        services.exam_creation_abandon(creation=creation)  # a person checked: not created → may send again

    with upstream_budget():  # a POST is tried once; past the budget its outcome is "unknown" (see exam_create)
        outcome = services.exam_create(
            user=request.user, course_sid=course_sid, key=key, exam=bundle.exam.body(),
            config_values=bundle.config.values(),
            virtual_calculator_type=bundle.exam.cleaned_data.get("virtual_calculator_type", ""))
    return _create_outcome(request, ctx, outcome)


def _create_outcome(request, ctx, outcome: services.CreateOutcome):
    creation = outcome.creation
    if outcome.kind == "created":
        messages.success(request, outcome.message)
        return _redirect(request, _creation_url(creation) if creation.exam_sid else reverse("exams:index"))
    if outcome.kind == "invalid":
        ctx["bundle"].add_upstream_errors(outcome.field_errors)
    ctx.update(outcome=outcome, creation=creation,
               banner=("error" if outcome.kind in ("invalid", "failed", "unknown") else "info", outcome.message))
    return _respond(request, "exams/new.html", "create-form", ctx)


@staff_required
@require_POST
def exam_new_validate(request: HttpRequest, course_sid: str):
    _check_sids(course=course_sid)
    require_course_edit(request.user, course_sid)
    bundle = CreateBundle(request.POST)
    bundle.is_valid()
    return _validation_fragment(request, bundle.errors_by_name())


@staff_required
def creation(request: HttpRequest, course_sid: str, key: str):
    """The state of one exam creation (a second submission of the same form lands here; polls while sending)."""
    _check_sids(course=course_sid)
    require_course_view(request.user, course_sid)
    try:
        key = str(uuid.UUID(key))
    except ValueError:
        raise Http404("No such exam creation") from None
    item = ExamCreation.objects.filter(key=key, course_sid=course_sid).first()
    if item is None:
        raise Http404("No such exam creation")
    url = ""
    if item.status == ExamCreation.Status.CREATED and item.exam_sid and item.configuration_sid:
        url = reverse("exams:configuration", args=[course_sid, item.exam_sid, item.configuration_sid])
    return _respond(request, "exams/creation.html", "creation-status",
                    {"item": item, "course_sid": course_sid, "configuration_url": url,
                     "course": selectors.course_get(course_sid),
                     "outcome": services.exam_creation_status(creation=item)})



# --- bulk change (coordinators; support may look) ------------------------------------------------------------------
def _require_coordinator(request: HttpRequest) -> None:
    if user_role(request.user) != Role.COORDINATOR:
        raise PermissionDenied("Only coordinators may apply a bulk change")


@role_required(Role.COORDINATOR, Role.SUPPORT)
@require_http_methods(["GET", "POST"])
def bulk(request: HttpRequest):
    """/exams/bulk/: pick configurations (whole courses, offerings or single ones) and one change → a preview job."""
    from proctordash.exams import bulk as bulk_services
    from proctordash.exams.forms import BulkChangeForm
    from proctordash.exams.models import BulkChange

    groups = bulk_services.bulk_candidates(user=request.user)
    form = BulkChangeForm(request.POST or None, initial={"kind": "permit", "item": "Calculator"})
    picked = {"course": request.POST.getlist("course"), "offering": request.POST.getlist("offering"),
              "configuration": request.POST.getlist("configuration")}
    pick_error = ""
    if request.method == "POST":
        _require_coordinator(request)
        targets = bulk_services.targets_of(groups, courses=picked["course"], offerings=picked["offering"],
                                           configurations=picked["configuration"])
        if not targets:
            pick_error = "Configurations: pick at least one (a whole course, an offering or single configurations)."
        elif len(targets) > bulk_services.MAX_ITEMS:
            pick_error = (f"Configurations: {len(targets)} picked; at most {bulk_services.MAX_ITEMS} per bulk "
                          "change. Pick fewer and run it twice.")
        if form.is_valid() and not pick_error:
            change = bulk_services.bulk_start(user=request.user, change=form.change(), targets=targets,
                                              reason=form.cleaned_data.get("reason") or "")
            return redirect("exams:bulk_detail", bulk_id=change.pk)
    recent = list(BulkChange.objects.select_related("user")[:10])
    states = bulk_services.bulk_recent_states([b.pk for b in recent])
    for b in recent:
        b.states = states.get(b.pk, {})
    return TemplateResponse(request, "exams/bulk.html", {
        "groups": groups, "form": form, "picked": picked, "pick_error": pick_error, "recent": recent,
        "can_apply": user_role(request.user) == Role.COORDINATOR,
        "picked_count": len(set(picked["configuration"])), "max_items": bulk_services.MAX_ITEMS})


def _bulk_get(bulk_id: int):
    from proctordash.exams.models import BulkChange

    change = BulkChange.objects.filter(pk=bulk_id).select_related("user", "cancelled_by").first()
    if change is None:
        raise Http404("No such bulk change")
    return change


BULK_SHOW = {"all": "All", "changed": "Changed", "failed": "Failed", "skipped": "Skipped", "pending": "Pending"}


def _bulk_context(request: HttpRequest, change, *, show: str = "all") -> dict:
    from proctordash.exams import bulk as bulk_services
    from proctordash.exams.models import BulkChangeItem
    from proctordash.exams.names import names_for

    progress = bulk_services.bulk_progress(change)
    items = list(change.items.select_related("requested_by"))
    missing = [i for i in items if not i.course_title or not i.exam_title]
    if missing:  # items recorded before names were kept on them
        names = names_for(course_sids={i.course_sid for i in missing}, exam_sids={i.exam_sid for i in missing})
        for i in missing:
            i.course_title = i.course_title or names.course(i.course_sid)
            i.exam_title = i.exam_title or names.exam(i.exam_sid)
    show = show if show in BULK_SHOW and not progress.active else "all"
    shown = [i for i in items if show == "all" or i.state == show]
    if not progress.active:  # what needs a look first: failed, then skipped, then not applied, then changed
        order = {"failed": 0, "skipped": 1, "pending": 2, "changed": 3}
        shown.sort(key=lambda i: order.get(i.state, 2))
    changed = [i for i in items if i.status == BulkChangeItem.Status.SAVED]
    can_apply = user_role(request.user) == Role.COORDINATOR
    appliable = [i for i in items if i.appliable]
    return {
        "bulk": change, "items": shown, "all_count": len(items), "progress": progress, "changed": changed,
        "show": show, "show_choices": BULK_SHOW, "can_apply": can_apply,
        "to_apply": len(appliable), "to_confirm": [i for i in appliable if i.needs_confirmation],
        "failed_count": progress.states.get("failed", 0),
        "poll_since": f"{max((i.updated_at.timestamp() for i in items), default=0):.6f}",
    }


@role_required(Role.COORDINATOR, Role.SUPPORT)
def bulk_detail(request: HttpRequest, bulk_id: int):
    """A bulk change: before → after per configuration, the job's progress, then each one's outcome; apply, retry
    and cancel buttons. Works without JavaScript (a refresh link, and the page refreshes itself while the job
    runs); with htmx the progress is polled from `bulk_progress`."""
    from proctordash.exams import bulk as bulk_services

    change = _bulk_get(bulk_id)
    bulk_services.bulk_resume_stale(bulk_id=change.pk)
    return TemplateResponse(request, "exams/bulk_detail.html",
                            _bulk_context(request, change, show=request.GET.get("show", "all")))


@role_required(Role.COORDINATOR, Role.SUPPORT)
def bulk_progress(request: HttpRequest, bulk_id: int):
    """The page's poll (htmx, every second while the job has work): 204 when nothing changed since version `v`;
    else the status box and the rows that changed (out of band); when the job has finished, the whole job region
    (the buttons come back). A job whose worker died is sent again from here."""
    from proctordash.exams import bulk as bulk_services

    change = _bulk_get(bulk_id)
    progress = bulk_services.bulk_progress(change)
    if progress.stalled or progress.waiting:
        bulk_services.bulk_resume_stale(bulk_id=change.pk)
    if request.GET.get("v") == progress.version:
        return HttpResponse(status=204)
    if not request.htmx:
        return redirect("exams:bulk_detail", bulk_id=change.pk)
    ctx = _bulk_context(request, change)
    since = request.GET.get("since", "")
    try:
        since_ts = float(since)
    except ValueError:
        since_ts = 0.0
    ctx["changed_rows"] = [i for i in ctx["items"] if i.updated_at.timestamp() > since_ts]
    ctx["finished"] = not ctx["progress"].active
    return TemplateResponse(request, "exams/bulk_detail.html#bulk-poll", ctx)


@role_required(Role.COORDINATOR, Role.SUPPORT)
@require_POST
def bulk_apply(request: HttpRequest, bulk_id: int):
    """Ask the job to apply every previewed item not done yet, or (item=<id>) one item alone; `action=rebase`
    previews one item again, `action=retry_failed` retries the failed ones. Guarded exams (open now, opening
    within 24 h) go only with their confirmation: `confirm_item=<id>` (one per exam) or `confirm=1` (all)."""
    from proctordash.exams import bulk as bulk_services

    _require_coordinator(request)
    change = _bulk_get(bulk_id)
    item_id = request.POST.get("item", "")
    item_ids = {int(item_id)} if item_id.isdecimal() else None
    action = request.POST.get("action", "apply")
    if action == "rebase" and item_ids:
        item = change.items.filter(pk__in=item_ids).first()
        if item is None:
            raise Http404("No such item")
        if bulk_services.bulk_item_rebase(item=item):
            messages.info(request, f"Previewing “{item.exam_title or 'this exam'}” again on the configuration as it is "
                                   "now; apply it when the preview looks right.")
    elif action == "retry_failed":
        again, preview = bulk_services.bulk_retry_failed(bulk=change, user=request.user)
        parts = ([f"{again} failed save{'s' if again != 1 else ''} retried"] if again else []) + (
            [f"{preview} failed preview{'s' if preview != 1 else ''} redone"] if preview else [])
        messages.info(request, ("; ".join(parts) + ".") if parts else "Nothing has failed: nothing to retry.")
    else:
        confirm_ids = {int(v) for v in request.POST.getlist("confirm_item") if v.isdecimal()}
        n = bulk_services.bulk_apply_request(bulk=change, user=request.user, item_ids=item_ids,
                                             confirm_ids=confirm_ids, confirm_all=request.POST.get("confirm") == "1")
        messages.info(request, f"Applying the change to {n} configuration{'s' if n != 1 else ''}; this page shows "
                               "each one's outcome as it comes." if n else "Nothing left to apply.")
    return redirect("exams:bulk_detail", bulk_id=change.pk)


@role_required(Role.COORDINATOR, Role.SUPPORT)
@require_POST
def bulk_cancel(request: HttpRequest, bulk_id: int):
    """Stop the job: what was not sent yet is not sent (the configuration being saved at this moment finishes)."""
    from proctordash.exams import bulk as bulk_services

    _require_coordinator(request)
    change = _bulk_get(bulk_id)
    bulk_services.bulk_cancel(bulk=change, user=request.user)
    messages.info(request, "Cancelling: nothing that was not sent yet will be sent.")
    return redirect("exams:bulk_detail", bulk_id=change.pk)
