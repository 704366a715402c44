"""Exam configurations and exam creation: fetch (with the cache as fallback), safe save, history, idempotent create.

Rules this module guarantees (views rely on them):
- A save sends the COMPLETE configuration: the configuration as it is upstream right now, re-fetched just before the
  PUT, with only the fields the user changed replaced. Keys the form does not show travel unchanged.
- A save is not sent when the upstream changed since the form was opened (version token = hash of the editable
  values); the caller gets a field-by-field comparison instead.
- A PUT is a full replacement, applied whole or not at all upstream; a lost answer is resolved on the next attempt
  (if the upstream already holds exactly the user's edit, the save counts as done and is not sent twice).
- Passwords never reach the database, the history or a log line in clear.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field as dc_field
from datetime import datetime, timedelta
from typing import Any

import requests
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from proctordash.core import taskqueue
from proctordash.core.http import BudgetExhausted, upstream_budget
from proctordash.core.vocabulary import is_sid
from proctordash.exams import fields as F_
from proctordash.exams.models import CachedConfiguration, ConfigurationChange, ConfigurationSave, ExamCreation
from proctordash.integrations.exceptions import (
    UpstreamAuthError,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamUnavailable,
    UpstreamValidationError,
)

log = logging.getLogger(__name__)

NEAR_OPEN_WINDOW = timedelta(hours=24)
STUCK_SENDING_AFTER = timedelta(minutes=2)  # far beyond the client's (connect + read) timeout


def _client():
    from proctordash.integrations.smarterproctoring.client import SmarterProctoringClient

    return SmarterProctoringClient.from_settings()


def upstream_message(error: UpstreamError) -> str:
    """What to tell a user about a failed call, in words (never the URL, never a secret)."""
    if isinstance(error, UpstreamRateLimited):
        return f"SmarterProctoring asked us to slow down (rate limited); try again in {int(error.retry_after)} s."
    if isinstance(error, UpstreamAuthError):
        return "SmarterProctoring refused ProctorDash's credentials; a coordinator must check the API token."
    if isinstance(error, UpstreamBadResponse):
        return "SmarterProctoring sent an answer ProctorDash could not read."
    if isinstance(error, UpstreamUnavailable):
        if error.status:
            return f"SmarterProctoring answered with a server error (HTTP {error.status})."
        return "SmarterProctoring did not answer in time (timeout or network error)."
    if isinstance(error, UpstreamNotFound):
        return "SmarterProctoring does not know this configuration."
    return f"SmarterProctoring answered with an error{f' (HTTP {error.status})' if error.status else ''}."


class ConfigurationNotFound(Exception):
    pass


class ConfigurationUnavailable(Exception):
    """The upstream failed and there is no cached copy to fall back on (`refreshing`: the worker was asked)."""

    def __init__(self, message: str, *, refreshing: bool = False):
        super().__init__(message)
        self.message = message
        self.refreshing = refreshing


@dataclass
class Loaded:
    """A configuration as shown: live from the upstream (raw holds the password) or the cached copy (masked)."""

    raw: dict
    live: bool
    fetched_at: datetime
    error: str = ""
    drift: ConfigurationChange | None = None
    refreshing: bool = False  # a copy shown because the live read failed, and the worker was asked for a fresh one

    @property
    def values(self) -> dict[str, Any]:
        return F_.values_of(self.raw)


# --- the cache and drift -----------------------------------------------------------------------------------------
def configuration_store(*, raw: dict, course_sid: str, exam_sid: str, detect_drift: bool,
                        now: datetime | None = None) -> ConfigurationChange | None:
    """Upsert the cached copy from an upstream configuration. With detect_drift, a difference from the cached copy
    (which ProctorDash keeps current after its own saves) is recorded as a change made outside ProctorDash."""
    now = now or timezone.now()
    sid = raw.get("sid")
    if not sid:
        return None
    values = F_.values_of(raw)
    new_hash = F_.values_hash(values)
    drift = None
    with transaction.atomic():
        cached = CachedConfiguration.objects.select_for_update().filter(sid=sid).first()
        if cached is not None and detect_drift and cached.values_hash != new_hash:
            # Against the password in clear (in memory only), so a cached digest made under an earlier key (one of
            # SECRET_KEY_FALLBACKS) compares exactly. One that cannot be compared (DIGEST_REMOVED by migration 0007,
            # or a key this server no longer has) counts as unchanged: "changed outside" would be a false report
            # (and an e-mail to support); the copy stored below is comparable again. The cost: a password changed
            # outside ProctorDash in that window is not reported.
            rows = F_.diff_rows(F_.values_of(cached.raw), F_.values_of(raw, keep_password=True), unknown=True)
            if rows:
                drift = ConfigurationChange.objects.create(
                    configuration_sid=sid, exam_sid=exam_sid, course_sid=course_sid,
                    enrollment_sid=_enrollment_of(raw), source=ConfigurationChange.Source.OUTSIDE,
                    diff=rows, reason=_outside_reason(raw))
        enrollment = raw.get("enrollmentSid")
        reference = raw.get("referenceExamConfigurationSid") or raw.get("refConfigSid")
        defaults = {  # odd upstream SIDs (too long, "/" …) are not kept as keys: the raw JSON still shows them
            "exam_sid": exam_sid, "course_sid": course_sid,
            "enrollment_sid": enrollment if isinstance(enrollment, str) and is_sid("enrollment", enrollment) else "",
            "reference_sid": reference if isinstance(reference, str) and is_sid("exam_configuration", reference)
            else "",
            "raw": F_.masked_raw(raw), "values_hash": new_hash, "fetched_at": now,
        }
        if cached is None:
            CachedConfiguration.objects.create(sid=sid, **defaults)
        else:
            for k, v in defaults.items():
                setattr(cached, k, v)
            cached.save()
    return drift


def _enrollment_of(raw: dict) -> str:
    value = raw.get("enrollmentSid")
    return value if isinstance(value, str) and is_sid("enrollment", value) else ""


def _outside_reason(raw: dict) -> str:
    return outside_reason("Noticed on fetch", raw)


def outside_reason(noticed: str, raw: dict) -> str:
    """The history's reason for a change made outside ProctorDash: how it was noticed and, when the upstream says,
    when it was made — in the dashboard's zone, as every date a person reads."""
    from proctordash.core.timezones import dashboard_zone, format_in_zone

    edited = F_.parse_date(raw.get("editDate"))
    if edited is None:
        return noticed
    return f"{noticed}; changed at the vendor {format_in_zone(edited, dashboard_zone(), '%d %b %Y %H:%M')}"


def configuration_get(*, course_sid: str, exam_sid: str, configuration_sid: str, client=None,
                      fetch_in_background: bool = False) -> Loaded:
    """The configuration fresh from SmarterProctoring (recording any change made outside ProctorDash); when the
    upstream fails (inside a web request: does not answer within the request budget), the cached copy with its age
    and the reason. `fetch_in_background`: then also ask the worker to read it (`Loaded.refreshing`), so the page can
    show the current version when it arrives. Raises ConfigurationNotFound on 404 and ConfigurationUnavailable when
    there is nothing to show."""
    client = client or _client()
    try:
        config = client.get_configuration(course_sid=course_sid, exam_sid=exam_sid,
                                          configuration_sid=configuration_sid)
    except UpstreamNotFound as e:
        raise ConfigurationNotFound(configuration_sid) from e
    except UpstreamError as e:
        log.warning("configuration %s: fetch failed (%s)", configuration_sid, type(e).__name__)
        refreshing = fetch_in_background and configuration_fetch_request(
            course_sid=course_sid, exam_sid=exam_sid, configuration_sid=configuration_sid)
        message = upstream_message(e)
        if timed_out(e):
            message = (f"SmarterProctoring did not answer within {settings.UPSTREAM_REQUEST_BUDGET} s (it is slow "
                       "or not answering).")
        cached = CachedConfiguration.objects.filter(sid=configuration_sid, exam_sid=exam_sid,
                                                    course_sid=course_sid).first()
        if cached is None:
            raise ConfigurationUnavailable(message, refreshing=refreshing) from e
        return Loaded(raw=dict(cached.raw), live=False, fetched_at=cached.fetched_at, error=message,
                      refreshing=refreshing)
    raw = dict(config.raw)
    raw["sid"] = configuration_sid  # the SID asked for is the cache key, whatever the answer spells
    if raw.get("examSid") not in (None, "", exam_sid):
        raise ConfigurationNotFound(configuration_sid)  # the upstream says it belongs to another exam
    drift = configuration_store(raw=raw, course_sid=course_sid, exam_sid=exam_sid, detect_drift=True)
    return Loaded(raw=raw, live=True, fetched_at=timezone.now(), drift=drift)


# --- guard rails ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Guard:
    """What a person must know before changing a configuration (configuration_guard)."""

    locked: bool
    opens_at: datetime | None
    closes_at: datetime | None
    open_now: bool  # the exam window is open: students may be sitting it
    opens_soon: bool  # it opens within NEAR_OPEN_WINDOW (24 h)
    edit_opens_soon: bool  # the edit (new_values) puts an opening within 24 h or the window around now

    @property
    def needs_confirmation(self) -> bool:
        """Saving needs an explicit "yes, change it now"."""
        return self.open_now or self.opens_soon or self.edit_opens_soon

    @property
    def reason(self) -> str:
        """One sentence for the person confirming (empty when nothing needs confirming)."""
        if self.open_now:
            return ("The exam is open now: students may be sitting it, and a change reaches them at once. "
                    "Confirm that you want to change it now.")
        if self.opens_soon or self.edit_opens_soon:
            return ("The exam window opens within 24 hours: students may already be preparing. Confirm that you "
                    "want to change it now.")
        return ""


def configuration_guard(*, raw: dict, new_values: dict | None = None, now: datetime | None = None) -> Guard:
    """The guard rails of one configuration, as the configuration page shows them when it opens and as every save
    (single or bulk, per exam) applies them: locked (nothing may be sent), open now or opening within 24 h (saving
    needs an explicit confirmation). `raw` is the configuration as upstream holds it (any encoding), `new_values`
    the edit about to be saved (its window counts too)."""
    now = now or timezone.now()
    opens = F_.parse_date(raw.get("examOpenDate"))
    closes = F_.parse_date(raw.get("examCloseDate"))
    open_now = opens is not None and opens <= now and (closes is None or now < closes)
    opens_soon = opens is not None and now < opens <= now + NEAR_OPEN_WINDOW
    edit_soon = False
    if new_values:
        new_opens = F_.parse_date(new_values.get("examOpenDate"))
        new_closes = F_.parse_date(new_values.get("examCloseDate"))
        edit_soon = new_opens is not None and (now < new_opens <= now + NEAR_OPEN_WINDOW or (
            new_opens <= now and (new_closes is None or now < new_closes)))
    return Guard(locked=raw.get("locked") is True, opens_at=opens, closes_at=closes, open_now=open_now,
                 opens_soon=opens_soon, edit_opens_soon=edit_soon)


def needs_confirmation(raw: dict, *, new_values: dict | None = None, now: datetime | None = None) -> bool:
    """True when saving now needs an explicit confirmation (see configuration_guard)."""
    return configuration_guard(raw=raw, new_values=new_values, now=now).needs_confirmation


# --- saving --------------------------------------------------------------------------------------------------------
NO_CHANGES = "No changes: the form is the same as the configuration you opened, so nothing was sent."


@dataclass
class ComparisonRow:
    key: str
    label: str
    opened: str  # the value when the form was opened
    upstream: str  # the value upstream now (someone else's change)
    mine: str | None  # the user's edit, None when the user did not change this field
    upstream_changed: bool
    clash: bool  # both changed it, to different values


@dataclass
class UpdateOutcome:
    kind: str  # saved unchanged conflict confirm invalid failed locked | slow (timed out) | background busy
    message: str = ""
    changes: dict[str, Any] = dc_field(default_factory=dict)
    comparison: list[ComparisonRow] = dc_field(default_factory=list)
    current_raw: dict | None = None  # the configuration upstream now (for a conflict: the new base)
    field_errors: dict[str, str] = dc_field(default_factory=dict)  # upstream body key → message
    change: ConfigurationChange | None = None
    error: UpstreamError | None = None  # the upstream failure behind "failed" / "slow"
    sent: bool = False  # "slow": the PUT may have reached the upstream (its answer did not come in time)
    job: ConfigurationSave | None = None  # "background" / "busy": the job completing the save


def timed_out(error: BaseException) -> bool:
    """Whether an upstream failure is slowness (a timeout, or the request budget spent), not an answer or a refusal."""
    seen = 0
    cause: BaseException | None = error
    while cause is not None and seen < 10:
        if isinstance(cause, requests.Timeout):
            return True
        from urllib3.exceptions import TimeoutError as Urllib3Timeout

        if isinstance(cause, Urllib3Timeout) or isinstance(getattr(cause, "reason", None), Urllib3Timeout):
            return True
        if cause.args and isinstance(getattr(cause.args[0], "reason", None), Urllib3Timeout):
            return True
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return False


def comparison_rows(base: dict, current: dict, mine: dict, changes: dict) -> list[ComparisonRow]:
    rows = []
    for f in F_.FIELDS:
        # a password that cannot be compared has moved only when the user changes it (as in configuration_update)
        upstream_changed = not F_.same(f.key, base.get(f.key), current.get(f.key), unknown=f.key not in changes)
        mine_changed = f.key in changes
        if not (upstream_changed or mine_changed):
            continue
        clash = upstream_changed and mine_changed and not F_.same(f.key, current.get(f.key), mine.get(f.key))
        rows.append(ComparisonRow(
            key=f.key, label=f.label, opened=F_.display(f.key, base.get(f.key)),
            upstream=F_.display(f.key, current.get(f.key)),
            mine=F_.display(f.key, mine.get(f.key)) if mine_changed else None,
            upstream_changed=upstream_changed, clash=clash))
    return rows


def configuration_update(*, user, course_sid: str, exam_sid: str, configuration_sid: str, base_hash: str,
                         base_values: dict[str, Any], new_values: dict[str, Any], reason: str = "",
                         confirmed: bool = False, client=None, now: datetime | None = None,
                         source: str = ConfigurationChange.Source.DASHBOARD) -> UpdateOutcome:
    """Save the user's edit (new_values, compared with base_values, the values the form was opened with).

    Changes are what differs in meaning between base_values and new_values (fields.changes_between: line endings,
    null vs empty, JSON key order do not count). No change: nothing is fetched or sent. Otherwise re-fetches the
    configuration first; sends nothing if it is locked, if it changed since the form was opened (a conflict:
    base_hash is only a shortcut, the comparison is field by field), or if configuration_guard asks for a
    confirmation the user has not given. Sends the current configuration with only the changed fields replaced.
    On success the cache is updated at once and the change recorded in the history.
    """
    client = client or _client()
    changes = F_.changes_between(base_values, new_values)
    if not changes:
        return UpdateOutcome("unchanged", NO_CHANGES)
    try:
        current = client.get_configuration(course_sid=course_sid, exam_sid=exam_sid,
                                           configuration_sid=configuration_sid)
    except UpstreamNotFound as e:
        raise ConfigurationNotFound(configuration_sid) from e
    except UpstreamError as e:
        if timed_out(e):
            return UpdateOutcome("slow", upstream_message(e), changes=changes, error=e, sent=False)
        return UpdateOutcome("failed", upstream_message(e) + " Nothing was sent; your edits are still in the form.",
                             changes=changes, error=e)
    current_raw = dict(current.raw)
    current_raw["sid"] = configuration_sid
    # Outside changes since our last look are history too (the cache is the reference).
    configuration_store(raw=current_raw, course_sid=course_sid, exam_sid=exam_sid, detect_drift=True)
    # The password in clear, in memory only (history rows and comparison tables mask it): a base digest from before
    # (a page opened before migration 0007, a key in SECRET_KEY_FALLBACKS) then compares exactly.
    current_values = F_.values_of(current_raw, keep_password=True)
    if current_raw.get("locked"):
        return UpdateOutcome("locked", "SmarterProctoring has locked this configuration; nothing was sent.",
                             current_raw=current_raw, changes=changes)

    # A base password that cannot be compared (DIGEST_REMOVED, a key this server no longer has) has "moved" only
    # when the user changes the password: then sending could overwrite a password someone set meanwhile, so it is a
    # conflict and nothing is sent. Otherwise the PUT carries the upstream's current password (put_body), so the
    # unknown cannot overwrite anything and is not a conflict (a bulk job or a background save goes on).
    moved = set() if F_.values_hash(current_values) == base_hash else set(F_.changes_between(
        base_values, current_values, unknown="password" not in changes))
    if moved:
        pending = [k for k in changes if not F_.same(k, current_values.get(k), new_values.get(k))]
        if not pending and moved <= set(changes):
            # The upstream already holds exactly this edit: an earlier attempt whose answer was lost went through.
            change = _record(user=user, raw=current_raw, course_sid=course_sid, exam_sid=exam_sid,
                             old=base_values, new=current_values, keys=list(changes),
                             reason=(reason + " " if reason else "") + "(confirmed after a lost answer)",
                             source=source)
            return UpdateOutcome("saved", "Saved. (Your earlier attempt had already reached SmarterProctoring.)",
                                 changes=changes, current_raw=current_raw, change=change)
        rows = comparison_rows(base_values, current_values, new_values, changes)
        return UpdateOutcome("conflict", "Someone changed this configuration after you opened it. Nothing was sent.",
                             changes=changes, comparison=rows, current_raw=current_raw)

    guard = configuration_guard(raw=current_raw, new_values=new_values, now=now)
    if guard.needs_confirmation and not confirmed:
        return UpdateOutcome("confirm", guard.reason, changes=changes, current_raw=current_raw)

    applied = F_.apply_changes(current_raw, changes)
    body = F_.put_body(current_raw, changes)
    try:
        updated = client.update_configuration(course_sid=course_sid, exam_sid=exam_sid,
                                              configuration_sid=configuration_sid, body=body)
    except UpstreamValidationError as e:
        return UpdateOutcome("invalid", "SmarterProctoring refused the change. Nothing was applied; correct the "
                                        "fields marked below.", changes=changes, field_errors=e.field_errors,
                             current_raw=current_raw)
    except UpstreamError as e:
        log.warning("configuration %s: save failed (%s, status %s)", configuration_sid, type(e).__name__, e.status)
        if timed_out(e):
            return UpdateOutcome("slow", upstream_message(e), changes=changes, error=e,
                                 sent=not isinstance(_root(e), BudgetExhausted))
        lost = isinstance(e, UpstreamUnavailable)
        extra = (" A configuration is replaced as a whole, so either all of your changes were applied or none. "
                 "Your edits are still in the form: press Save again — ProctorDash checks first and will not apply "
                 "them twice." if lost else " Nothing was applied; your edits are still in the form.")
        return UpdateOutcome("failed", upstream_message(e) + extra, changes=changes, error=e)
    saved_raw = dict(updated.raw) if getattr(updated, "raw", None) else applied
    saved_raw["sid"] = configuration_sid
    configuration_store(raw=saved_raw, course_sid=course_sid, exam_sid=exam_sid, detect_drift=False)
    change = _record(user=user, raw=saved_raw, course_sid=course_sid, exam_sid=exam_sid, old=current_values,
                     new=F_.values_of(applied), keys=list(changes), reason=reason, source=source)
    log.info("configuration %s saved by %s: %s", configuration_sid, getattr(user, "username", "?"),
             ", ".join(sorted(changes)))  # field names only, never values
    return UpdateOutcome("saved", "Saved. SmarterProctoring has the new configuration.", changes=changes,
                         current_raw=saved_raw, change=change)


def _record(*, user, raw: dict, course_sid: str, exam_sid: str, old: dict, new: dict, keys: list[str],
            reason: str = "", source: str = ConfigurationChange.Source.DASHBOARD) -> ConfigurationChange:
    return ConfigurationChange.objects.create(
        configuration_sid=raw.get("sid", ""), exam_sid=exam_sid, course_sid=course_sid,
        enrollment_sid=_enrollment_of(raw), user=user if getattr(user, "pk", None) else None,
        source=source, diff=F_.diff_rows(old, new, keys=keys), reason=reason[:500])


def _root(error: BaseException) -> BaseException:
    while error.__cause__ is not None:
        error = error.__cause__
    return error


# --- saving within the request budget; a slow upstream hands over to a job --------------------------------------------
SAVE_STALE_AFTER = timedelta(minutes=3)  # a "running" claim older than this belonged to a worker that died
SAVE_GIVE_UP_AFTER = 8  # job attempts (about 10 min of retries with backoff)
BACKGROUND_MESSAGE = ("SmarterProctoring is slow to answer, so ProctorDash is completing your save in the background. "
                      "This page shows the outcome as soon as it is known; your edits stay in the form meanwhile.")


def _storable_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """The changes as a job may keep them: a new password only as its digest (never at rest in clear)."""
    out = dict(changes)
    if "password" in out:
        out["password"] = F_.password_digest(out["password"] or "") or ""
    return out


def configuration_save_pending(*, configuration_sid: str) -> ConfigurationSave | None:
    """A background save of this configuration still in progress (queued or running, not stale)."""
    return (ConfigurationSave.objects.filter(configuration_sid=configuration_sid, status__in=ConfigurationSave.PENDING,
                                             updated_at__gte=timezone.now() - SAVE_STALE_AFTER)
            .order_by("-created_at").first())


def configuration_save(*, user, course_sid: str, exam_sid: str, configuration_sid: str, base_hash: str,
                       base_values: dict[str, Any], new_values: dict[str, Any], reason: str = "",
                       confirmed: bool = False, client=None) -> UpdateOutcome:
    """The configuration page's save: configuration_update within the web request's upstream budget
    (UPSTREAM_REQUEST_BUDGET). When the upstream is too slow for it (a timeout, before or after the PUT left), the
    save continues as a ConfigurationSave job (outcome "background", `.job`) that the page follows; while one is in
    progress for this configuration, another save is not sent (outcome "busy")."""
    busy = configuration_save_pending(configuration_sid=configuration_sid)
    if busy is not None and F_.changes_between(base_values, new_values):
        return UpdateOutcome("busy", "A save of this configuration is still being completed in the background; "
                                     "nothing else was sent. Its outcome is shown below.", job=busy)
    with upstream_budget():
        outcome = configuration_update(user=user, course_sid=course_sid, exam_sid=exam_sid,
                                       configuration_sid=configuration_sid, base_hash=base_hash,
                                       base_values=base_values, new_values=new_values, reason=reason,
                                       confirmed=confirmed, client=client)
    if outcome.kind != "slow":
        return outcome
    job = ConfigurationSave.objects.create(
        course_sid=course_sid, exam_sid=exam_sid, configuration_sid=configuration_sid,
        user=user if getattr(user, "pk", None) else None, base_values=base_values, base_hash=base_hash,
        changes=_storable_changes(outcome.changes), reason=reason[:500], confirmed=confirmed, sent=outcome.sent,
        message="Waiting for the background worker.")
    if not _enqueue_save(job):
        if outcome.sent:
            message = (upstream_message(outcome.error) + " Your change may or may not have reached SmarterProctoring, "
                       "and ProctorDash cannot finish it in the background right now. Your edits are still in the "
                       "form: press Save again — ProctorDash checks first and will not apply them twice.")
        else:
            message = (upstream_message(outcome.error) + " Nothing was sent, and ProctorDash cannot finish the save in "
                       "the background right now. Your edits are still in the form; try again in a moment.")
        return UpdateOutcome("failed", message, changes=outcome.changes, error=outcome.error)
    return UpdateOutcome("background", BACKGROUND_MESSAGE, changes=outcome.changes, job=job, sent=outcome.sent)


# The tasks are sent by name: exams.tasks imports this module, and import-linter forbids the cycle back.
SAVE_TASK = "proctordash.exams.tasks.finish_configuration_save_task"
FETCH_TASK = "proctordash.exams.tasks.fetch_configuration_task"
REGISTER_TASK = "proctordash.exams.tasks.refresh_course_configurations_task"


def _send(task: str, *args) -> None:
    taskqueue.send_task(task, args=args)


def _enqueue_save(job: ConfigurationSave) -> bool:
    try:
        _send(SAVE_TASK, str(job.pk))
    except Exception:  # noqa: BLE001 - the broker (Redis) is down: say so, never pretend the job runs
        log.warning("configuration save %s: could not be queued", job.pk, exc_info=True)
        ConfigurationSave.objects.filter(pk=job.pk).update(
            status=ConfigurationSave.Status.FAILED, finished_at=timezone.now(),
            message="The background worker could not be reached, so the save was not completed there.")
        return False
    return True


_OUTCOME_STATUS = {
    "saved": ConfigurationSave.Status.SAVED, "unchanged": ConfigurationSave.Status.UNCHANGED,
    "conflict": ConfigurationSave.Status.CONFLICT, "locked": ConfigurationSave.Status.LOCKED,
    "confirm": ConfigurationSave.Status.CONFIRM, "invalid": ConfigurationSave.Status.INVALID,
    "failed": ConfigurationSave.Status.FAILED,
}


def _finish_save(job: ConfigurationSave, status: str, message: str, change: ConfigurationChange | None = None) -> None:
    ConfigurationSave.objects.filter(pk=job.pk).update(status=status, message=message[:1000], finished_at=timezone.now(),
                                                       updated_at=timezone.now(), change=change)
    job.refresh_from_db()


def configuration_save_finish(*, save_id: str, client=None) -> str:
    """The background part of a slow save (exams.tasks.finish_configuration_save_task), with the clients' normal
    timeouts. Claims the job first (queued, or running but stale), so two deliveries never work on it at once.

    Without a password change it is configuration_update again with the same snapshot and edit: the upstream
    already holding the edit (an answer lost in the web request) counts as saved and nothing is sent twice; a
    colleague's change meanwhile is a conflict. A changed password is kept only as a digest, so then the job only
    verifies: saved when the upstream holds the edit, "not_applied" when it does not (the person saves again).

    Returns "done", "retry" (the upstream is still slow or down: try again later) or "busy" (claimed elsewhere)."""
    now = timezone.now()
    claimed = ConfigurationSave.objects.filter(pk=save_id).filter(
        Q(status=ConfigurationSave.Status.QUEUED)
        | Q(status=ConfigurationSave.Status.RUNNING, updated_at__lt=now - SAVE_STALE_AFTER)
    ).update(status=ConfigurationSave.Status.RUNNING, attempts=F("attempts") + 1, updated_at=now,
             message="Being completed in the background.")
    if not claimed:
        return "busy"
    job = ConfigurationSave.objects.select_related("user").get(pk=save_id)
    client = client or _client()
    try:
        if "password" in job.changes:
            return _verify_save(job, client=client)
        outcome = configuration_update(
            user=job.user, course_sid=job.course_sid, exam_sid=job.exam_sid,
            configuration_sid=job.configuration_sid, base_hash=job.base_hash, base_values=job.base_values,
            new_values={**job.base_values, **job.changes}, reason=job.reason, confirmed=job.confirmed, client=client)
    except ConfigurationNotFound:
        _finish_save(job, ConfigurationSave.Status.FAILED, "SmarterProctoring no longer knows this configuration; "
                                                           "nothing was saved.")
        return "done"
    if outcome.kind == "slow" or (outcome.kind == "failed" and isinstance(
            outcome.error, (UpstreamUnavailable, UpstreamRateLimited, UpstreamBadResponse))):
        return _save_retry_later(job, sent=outcome.sent)
    message = {"saved": "Saved in the background: SmarterProctoring has the new configuration.",
               "conflict": "Someone changed this configuration after you opened it, so nothing was sent. Press Save "
                           "again to compare the versions and reapply your changes."}.get(outcome.kind, outcome.message)
    if outcome.kind == "invalid" and outcome.field_errors:
        message += " " + "; ".join(f"{k}: {v}" for k, v in list(outcome.field_errors.items())[:5])
    _finish_save(job, _OUTCOME_STATUS.get(outcome.kind, ConfigurationSave.Status.FAILED), message, outcome.change)
    return "done"


def _verify_save(job: ConfigurationSave, *, client) -> str:
    try:
        current = client.get_configuration(course_sid=job.course_sid, exam_sid=job.exam_sid,
                                           configuration_sid=job.configuration_sid)
    except UpstreamNotFound as e:
        raise ConfigurationNotFound(job.configuration_sid) from e
    except (UpstreamUnavailable, UpstreamRateLimited, UpstreamBadResponse):
        return _save_retry_later(job, sent=False)
    except UpstreamError as e:
        _finish_save(job, ConfigurationSave.Status.FAILED, upstream_message(e))
        return "done"
    raw = dict(current.raw)
    raw.setdefault("sid", job.configuration_sid)
    values = F_.values_of(raw, keep_password=True)  # in clear, in memory only: compares exactly with the job's digest
    if F_.password_match(values.get("password"), job.changes.get("password")) is None:
        # The job's digest cannot be compared (SECRET_KEY changed without a fallback, or migration 0007 removed a
        # legacy digest): never claim "saved". Unsent, the change certainly did not reach the upstream.
        if job.sent:
            _finish_save(job, ConfigurationSave.Status.UNKNOWN,
                         "ProctorDash can no longer tell whether your new exam password reached SmarterProctoring "
                         "(ProctorDash was updated while the save was in progress). Reload the page: it shows the "
                         "configuration as SmarterProctoring has it; save again if your change is missing.")
        else:
            _finish_save(job, ConfigurationSave.Status.NOT_APPLIED,
                         "Your change was not sent: SmarterProctoring did not answer in time. It includes a new exam "
                         "password, which ProctorDash does not keep, so it cannot be sent in the background: press "
                         "Save again.")
        return "done"
    if all(F_.same(k, values.get(k), v) for k, v in job.changes.items()):
        configuration_store(raw=raw, course_sid=job.course_sid, exam_sid=job.exam_sid, detect_drift=False)
        change = _record(user=job.user, raw=raw, course_sid=job.course_sid, exam_sid=job.exam_sid,
                         old=job.base_values, new=values, keys=list(job.changes),
                         reason=(job.reason + " " if job.reason else "") + "(confirmed in the background)")
        _finish_save(job, ConfigurationSave.Status.SAVED, "Saved: SmarterProctoring has the new configuration.",
                     change)
    elif not F_.changes_between(job.base_values, values):
        grace = timedelta(seconds=settings.EXAMS_SAVE_SENT_GRACE)
        if job.sent and timezone.now() - job.created_at < grace:
            # The PUT left in the web request and may still be on its way: not known to have failed yet.
            return _save_retry_later(job, sent=True)
        _finish_save(job, ConfigurationSave.Status.NOT_APPLIED,
                     ("SmarterProctoring still shows the version you opened" + (
                         f" {int(grace.total_seconds() // 60) or 1} min after your change was sent" if job.sent
                         else "") + ": your change was not applied. It includes a new exam password, which "
                     "ProctorDash does not keep, so it cannot be sent again in the background: press Save again."))
    else:
        _finish_save(job, ConfigurationSave.Status.CONFLICT,
                     "The configuration in SmarterProctoring is neither the version you opened nor your edit: "
                     "someone changed it meanwhile. Press Save again to compare the versions.")
    return "done"


def _save_retry_later(job: ConfigurationSave, *, sent: bool) -> str:
    ConfigurationSave.objects.filter(pk=job.pk).update(
        status=ConfigurationSave.Status.QUEUED, sent=job.sent or sent,
        updated_at=timezone.now(),
        message="SmarterProctoring is still not answering; ProctorDash tries again shortly.")
    return "retry"


def configuration_save_give_up(*, save_id: str) -> None:
    """The job's last attempt failed: say what is known, never more."""
    job = ConfigurationSave.objects.filter(pk=save_id, status__in=ConfigurationSave.PENDING).first()
    if job is None:
        return
    if job.sent:
        _finish_save(job, ConfigurationSave.Status.UNKNOWN,
                     "SmarterProctoring did not answer for several minutes, so ProctorDash cannot tell whether your "
                     "change reached it. Reload the page: it shows the configuration as SmarterProctoring has it.")
    else:
        _finish_save(job, ConfigurationSave.Status.FAILED,
                     "Not saved: SmarterProctoring did not answer for several minutes and your change was not sent. "
                     "Press Save again when it answers.")


# --- fetching in the background when the live read misses the budget ------------------------------------------------
FETCH_STATE_SECONDS = 600


def _fetch_key(configuration_sid: str) -> str:
    return f"exams:fetch:v1:{configuration_sid}"


def _background_state(key: str) -> dict | None:
    """The state a background job keeps in the cache under `key`, or None (none, or Redis down: none is known)."""
    from django.core.cache import cache

    try:
        return cache.get(key)
    except Exception:  # noqa: BLE001 - Redis down
        return None


def configuration_fetch_state(*, configuration_sid: str) -> dict | None:
    """{"state": queued|running|failed, "message", "at"} of the background fetch, or None (none, or Redis down)."""
    return _background_state(_fetch_key(configuration_sid))


def configuration_fetch_request(*, course_sid: str, exam_sid: str, configuration_sid: str) -> bool:
    """Ask the worker for the current configuration (once at a time per configuration). False when it cannot be
    asked (Redis or the broker down)."""
    from django.core.cache import cache

    key = _fetch_key(configuration_sid)
    try:
        state = cache.get(key)
        if state and state.get("state") in ("queued", "running"):
            return True
        cache.set(key, {"state": "queued", "message": "", "at": timezone.now().timestamp()}, FETCH_STATE_SECONDS)
        _send(FETCH_TASK, course_sid, exam_sid, configuration_sid)
    except Exception:  # noqa: BLE001
        log.warning("configuration %s: background fetch could not be queued", configuration_sid, exc_info=True)
        try:
            cache.delete(key)
        except Exception:  # noqa: BLE001
            pass
        return False
    return True


def configuration_fetch(*, course_sid: str, exam_sid: str, configuration_sid: str, client=None,
                        last_try: bool = False) -> str:
    """The worker's read of a configuration the page could not read within its budget (normal timeouts): stores it
    in the cache (drift recorded as usual). Returns "done", "retry" or "failed"."""
    from django.core.cache import cache

    key = _fetch_key(configuration_sid)

    def state(value: str, message: str = "") -> None:
        try:
            cache.set(key, {"state": value, "message": message, "at": timezone.now().timestamp()},
                      FETCH_STATE_SECONDS)
        except Exception:  # noqa: BLE001
            pass

    state("running")
    client = client or _client()
    try:
        config = client.get_configuration(course_sid=course_sid, exam_sid=exam_sid,
                                          configuration_sid=configuration_sid)
    except UpstreamNotFound:
        state("failed", "SmarterProctoring does not know this configuration.")
        return "failed"
    except UpstreamError as e:
        retry = isinstance(e, (UpstreamUnavailable, UpstreamRateLimited, UpstreamBadResponse)) and not last_try
        state("queued" if retry else "failed", upstream_message(e))
        return "retry" if retry else "failed"
    raw = dict(config.raw)
    raw["sid"] = configuration_sid
    configuration_store(raw=raw, course_sid=course_sid, exam_sid=exam_sid, detect_drift=True)
    try:
        cache.delete(key)
    except Exception:  # noqa: BLE001
        pass
    return "done"


# --- history -------------------------------------------------------------------------------------------------------
def history_list(*, user, configuration_sid: str | None = None, course_sid: str | None = None,
                 source: str | None = None):
    """Selector: changes visible to the user, newest first."""
    qs = ConfigurationChange.objects.for_user(user).select_related("user")
    if configuration_sid:
        qs = qs.filter(configuration_sid=configuration_sid)
    if course_sid:
        qs = qs.filter(course_sid=course_sid)
    if source:
        qs = qs.filter(source=source)
    return qs


# --- accommodation register ----------------------------------------------------------------------------------------
ACCOMMODATION_KEYS = ["duration", "attempts"] + [f"permitted{i}" for i in F_.PERMITTED_ITEMS]


@dataclass
class Accommodation:
    configuration: CachedConfiguration
    learner_name: str
    differences: list[dict]
    base_known: bool
    exam_title: str = ""


def accommodations_list(*, user, course_sid: str, exam_sid: str | None = None) -> list[Accommodation]:
    """Per-student configurations (enrollmentSid set) from the cache, with the learner's name (from the appointment
    cache), the exam's title and what differs from the base configuration: duration, attempts, permitted items.
    A constant number of queries, however many rows."""
    from proctordash.appointments.models import Appointment, Exam

    qs = CachedConfiguration.objects.for_user(user).filter(course_sid=course_sid).exclude(enrollment_sid="")
    if exam_sid:
        qs = qs.filter(exam_sid=exam_sid)
    configs = list(qs[:2000])
    exam_sids = {c.exam_sid for c in configs}
    bases = {c.sid: c for c in CachedConfiguration.objects.filter(
        Q(sid__in={c.reference_sid for c in configs if c.reference_sid})
        | Q(exam_sid__in=exam_sids, enrollment_sid="", course_sid=course_sid))}
    base_of_exam: dict[str, CachedConfiguration] = {}
    for base in sorted(bases.values(), key=lambda b: b.sid):
        if not base.enrollment_sid:
            base_of_exam.setdefault(base.exam_sid, base)
    titles = dict(Exam.objects.filter(sid__in=exam_sids, course_sid=course_sid).values_list("sid", "title"))
    names: dict[str, str] = {}
    for row in (Appointment.objects.filter(course_sid=course_sid,
                                           enrollment_sid__in={c.enrollment_sid for c in configs})
                .values("enrollment_sid", "learner_first_name", "learner_last_name")):
        name = " ".join(p for p in (row["learner_first_name"], row["learner_last_name"]) if p)
        if name:
            names.setdefault(row["enrollment_sid"], name)
    out = []
    for c in configs:
        # the referenced base configuration, else the exam's base configuration when the reference is not cached
        base = bases.get(c.reference_sid) or base_of_exam.get(c.exam_sid)
        mine = F_.values_of(c.raw)
        diffs = F_.diff_rows(F_.values_of(base.raw), mine, keys=ACCOMMODATION_KEYS) if base else []
        out.append(Accommodation(c, names.get(c.enrollment_sid, ""), diffs, base is not None,
                                 titles.get(c.exam_sid, "")))
    out.sort(key=lambda a: (a.learner_name.lower() or "~", a.exam_title.lower(), a.configuration.exam_sid))
    return out


def configurations_refresh(*, course_sid: str, exam_sid: str, configuration_sids: list[str], client=None,
                           limit: int = 50) -> tuple[int, int]:
    """Fetch (and cache) the configurations the appointment cache names for an exam, for the register. Bounded;
    returns (fetched, failed)."""
    client = client or _client()
    fetched = failed = 0
    for sid in configuration_sids[:limit]:
        try:
            config = client.get_configuration(course_sid=course_sid, exam_sid=exam_sid, configuration_sid=sid)
        except UpstreamError:
            failed += 1
            continue
        raw = dict(config.raw)
        raw["sid"] = sid
        configuration_store(raw=raw, course_sid=course_sid, exam_sid=exam_sid, detect_drift=True)
        fetched += 1
    return fetched, failed


REGISTER_REFRESH_SECONDS = 1800


def _register_key(course_sid: str) -> str:
    return f"exams:register-refresh:v1:{course_sid}"


def configurations_refresh_course_state(*, course_sid: str) -> dict | None:
    """{"state": queued|running|done, "fetched", "failed", "at"} of the register's background refresh, or None."""
    return _background_state(_register_key(course_sid))


def configurations_refresh_course_request(*, course_sid: str) -> bool:
    """Queue the register's refresh for a course (once at a time). False when the worker cannot be reached."""
    from django.core.cache import cache

    key = _register_key(course_sid)
    try:
        state = cache.get(key)
        if state and state.get("state") in ("queued", "running") and \
                timezone.now().timestamp() - state.get("at", 0) < 900:
            return True
        cache.set(key, {"state": "queued", "at": timezone.now().timestamp()}, REGISTER_REFRESH_SECONDS)
        _send(REGISTER_TASK, course_sid)
    except Exception:  # noqa: BLE001
        log.warning("register refresh of %s could not be queued", course_sid, exc_info=True)
        try:
            cache.delete(key)
        except Exception:  # noqa: BLE001
            pass
        return False
    return True


def configurations_refresh_course(*, course_sid: str, client=None) -> tuple[int, int]:
    """The accommodation register's refresh (a Celery job, normal timeouts): every configuration the appointment
    cache names for the course, exam by exam. Returns (fetched, failed); the page follows its state."""
    from django.core.cache import cache

    from proctordash.appointments.models import Appointment

    key = _register_key(course_sid)

    def state(**value) -> None:
        try:
            cache.set(key, {**value, "at": timezone.now().timestamp()}, REGISTER_REFRESH_SECONDS)
        except Exception:  # noqa: BLE001
            pass

    state(state="running", fetched=0, failed=0)
    pairs = list(Appointment.objects.filter(course_sid=course_sid).exclude(configuration_sid="")
                 .values_list("exam_sid", "configuration_sid").distinct()[:500])
    client = client or _client()
    fetched = failed = 0
    for exam_sid in sorted({p[0] for p in pairs}):
        f, x = configurations_refresh(course_sid=course_sid, exam_sid=exam_sid, client=client,
                                      configuration_sids=[c for e, c in pairs if e == exam_sid])
        fetched, failed = fetched + f, failed + x
        state(state="running", fetched=fetched, failed=failed)
    state(state="done", fetched=fetched, failed=failed)
    return fetched, failed


# --- creating an exam ----------------------------------------------------------------------------------------------
@dataclass
class CreateOutcome:
    creation: ExamCreation
    kind: str  # created sending unknown invalid failed
    message: str = ""
    field_errors: dict[str, str] = dc_field(default_factory=dict)


def _never_sent(error: UpstreamError) -> bool:
    """True when the request certainly did not reach the upstream (connection refused / connect timeout)."""
    cause = error.__cause__
    while cause is not None:
        if isinstance(cause, (requests.ConnectTimeout,)):
            return True
        if isinstance(cause, requests.ConnectionError) and not isinstance(cause, requests.ReadTimeout):
            text = repr(cause)
            if "NewConnectionError" in text or "Connection refused" in text:
                return True
        cause = cause.__cause__ or cause.__context__
    return False


def exam_create(*, user, course_sid: str, key: str, exam: dict[str, Any], config_values: dict[str, Any],
                virtual_calculator_type: str = "", client=None) -> CreateOutcome:
    """Create an exam once per idempotency key.

    The ExamCreation row (unique key) is created or found, then claimed with a conditional UPDATE (new/failed →
    sending): of two concurrent submissions exactly one sends the POST, the other reports the first one's progress.
    The key travels in the configuration's apiExamId so the exam can be recognised if the answer is lost.
    """
    client = client or _client()
    try:
        with transaction.atomic():
            creation, _ = ExamCreation.objects.get_or_create(
                key=key, defaults={"course_sid": course_sid, "user": user, "title": exam.get("title", "")[:500]})
    except IntegrityError:
        creation = ExamCreation.objects.get(key=key)
    if creation.course_sid != course_sid:
        return CreateOutcome(creation, "invalid", "This form belongs to another course; reload the page.")
    claimed = ExamCreation.objects.filter(pk=creation.pk, status__in=[ExamCreation.Status.NEW,
                                                                      ExamCreation.Status.FAILED]).update(
        status=ExamCreation.Status.SENDING, attempts=F("attempts") + 1, sent_at=timezone.now(),
        title=exam.get("title", "")[:500], error="")
    creation.refresh_from_db()
    if not claimed:
        return exam_creation_status(creation=creation, already=True)

    body = dict(exam)
    body["configuration"] = F_.create_configuration_body(config_values, api_exam_id=creation.api_exam_id,
                                                         virtual_calculator_type=virtual_calculator_type)
    try:
        created = client.create_exam(course_sid=course_sid, body=body)
    except UpstreamValidationError as e:
        _set(creation, ExamCreation.Status.FAILED, error="SmarterProctoring refused the exam: " + e.message[:300])
        return CreateOutcome(creation, "invalid", "SmarterProctoring refused the exam; nothing was created. Correct "
                                                  "the fields marked below.", field_errors=e.field_errors)
    except UpstreamError as e:
        definitely_not = (isinstance(e, (UpstreamRateLimited, UpstreamAuthError, UpstreamNotFound))
                          or (e.status is not None and 400 <= e.status < 500) or _never_sent(e))
        if definitely_not:
            _set(creation, ExamCreation.Status.FAILED, error=upstream_message(e))
            return CreateOutcome(creation, "failed", upstream_message(e) + " The exam was not created; you can "
                                                                          "send it again.")
        log.warning("exam creation %s: outcome unknown (%s)", creation.key, type(e).__name__)
        _set(creation, ExamCreation.Status.UNKNOWN, error=upstream_message(e))
        return _outcome_of(creation)
    _finish_created(creation, created_raw=_raw_of(created), course_sid=course_sid, exam=exam, user=user)
    return _outcome_of(creation)


def _raw_of(record) -> dict:
    raw = getattr(record, "raw", None)
    if isinstance(raw, dict) and raw:
        return dict(raw)
    if hasattr(record, "model_dump"):
        return record.model_dump(by_alias=True)
    return dict(record)


def _set(creation: ExamCreation, status: str, **fields) -> None:
    ExamCreation.objects.filter(pk=creation.pk).update(status=status, updated_at=timezone.now(), **fields)
    creation.refresh_from_db()


def _finish_created(creation: ExamCreation, *, created_raw: dict, course_sid: str, exam: dict, user) -> None:
    """Mark the creation done and make the exam (and its configuration) visible in the dashboard at once."""
    from proctordash.appointments.models import Exam

    exam_sid = created_raw.get("sid") or ""
    configuration = F_.parse_jsonish(created_raw.get("configuration"))
    config_sid = configuration.get("sid", "") if isinstance(configuration, dict) else ""
    with transaction.atomic():
        if exam_sid:
            Exam.objects.update_or_create(sid=exam_sid, defaults={
                "course_sid": created_raw.get("courseSid") or course_sid,
                "title": created_raw.get("title") or exam.get("title", ""),
                "type": created_raw.get("type") or exam.get("type", ""),
                "status": created_raw.get("status") or exam.get("status", ""),
                "raw": F_.masked_raw({k: v for k, v in created_raw.items() if k != "configuration"}),
            })
        if isinstance(configuration, dict) and config_sid and exam_sid:
            configuration_store(raw=configuration, course_sid=course_sid, exam_sid=exam_sid, detect_drift=False)
            ConfigurationChange.objects.create(
                configuration_sid=config_sid, exam_sid=exam_sid, course_sid=course_sid,
                user=user if getattr(user, "pk", None) else None, source=ConfigurationChange.Source.CREATED,
                diff=[], reason=f"Exam “{exam.get('title', '')}” created")
        _set(creation, ExamCreation.Status.CREATED, exam_sid=exam_sid, configuration_sid=config_sid, error="")


def exam_creation_status(*, creation: ExamCreation, already: bool = False) -> CreateOutcome:
    """What is known now about a creation. A "sending" claim older than STUCK_SENDING_AFTER belonged to a request
    that died (worker killed, deploy): its outcome is unknown, never "not sent". `already`: the same form was sent
    again, so a created exam is reported as created before, not now."""
    creation.refresh_from_db()
    if (creation.status == ExamCreation.Status.SENDING and creation.sent_at
            and timezone.now() - creation.sent_at > STUCK_SENDING_AFTER):
        _set(creation, ExamCreation.Status.UNKNOWN, error="The request that sent this exam did not finish.")
    outcome = _outcome_of(creation)
    if already and outcome.kind == "created":
        outcome.message = (f"This form was already sent: exam “{creation.title}” was created before. Nothing was "
                           "created again.")
    return outcome


def _outcome_of(creation: ExamCreation) -> CreateOutcome:
    status = creation.status
    if status == ExamCreation.Status.CREATED:
        return CreateOutcome(creation, "created", f"Exam “{creation.title}” created in SmarterProctoring.")
    if status == ExamCreation.Status.SENDING:
        return CreateOutcome(creation, "sending", "This exam is being created (the same form was already sent); "
                                                  "ProctorDash waits for SmarterProctoring's answer.")
    if status == ExamCreation.Status.UNKNOWN:
        return CreateOutcome(creation, "unknown", (creation.error or "The answer was lost.") +
                             " ProctorDash cannot tell yet whether the exam was created.")
    if status == ExamCreation.Status.FAILED:
        return CreateOutcome(creation, "failed", creation.error or "The exam was not created.")
    return CreateOutcome(creation, "new", "")


def exam_creation_resolve(*, creation: ExamCreation, client=None, exam_sid: str = "",
                          configuration_sid: str = "", max_checks: int = 20) -> CreateOutcome:
    """Find out whether a creation whose answer was lost reached SmarterProctoring.

    The documented calls cannot list a course's exams, so the check is indirect: the configurations of exams in the
    course named by the appointment report (with the same title) — or the SIDs a user found in SmarterProctoring's
    own screens — are fetched and their apiExamId compared with this creation's marker. A match is proof of
    creation. No match is not proof of the opposite (a brand-new exam has no appointments); the caller must then
    let a person decide (exam_creation_abandon) before sending again.
    """
    client = client or _client()
    candidates: list[tuple[str, str]] = []
    if exam_sid and configuration_sid:
        candidates.append((exam_sid, configuration_sid))
    else:
        from proctordash.appointments.models import Appointment

        for row in (Appointment.objects.filter(course_sid=creation.course_sid, exam_title=creation.title)
                    .exclude(configuration_sid="").values_list("exam_sid", "configuration_sid").distinct()[:50]):
            candidates.append(tuple(row))
        list_appointments = getattr(client, "list_appointments", None)
        if list_appointments is not None:
            try:
                for i, appt in enumerate(list_appointments(course_sid=creation.course_sid,
                                                           exam_title=creation.title)):
                    raw = getattr(appt, "raw", {}) or {}
                    pair = (raw.get("examSid") or "", raw.get("examConfigurationSid") or
                            raw.get("configurationSid") or "")
                    if all(pair) and pair not in candidates:
                        candidates.append(pair)
                    if i > 500:
                        break
            except (UpstreamError, TypeError):
                pass
    for exam_sid_, config_sid in candidates[:max_checks]:
        try:
            config = client.get_configuration(course_sid=creation.course_sid, exam_sid=exam_sid_,
                                              configuration_sid=config_sid)
        except UpstreamError:
            continue
        if (config.raw or {}).get("apiExamId") == creation.api_exam_id:
            raw = {"sid": exam_sid_, "courseSid": creation.course_sid, "title": creation.title,
                   "configuration": dict(config.raw)}
            _finish_created(creation, created_raw=raw, course_sid=creation.course_sid,
                            exam={"title": creation.title}, user=creation.user)
            return _outcome_of(creation)
    return CreateOutcome(creation, "unknown",
                         "No exam carrying this form's marker was found"
                         + (" at the SIDs you gave." if exam_sid else
                            " among the exams of this course that the appointment report shows.")
                         + " That is not proof it was not created: a new exam has no appointments yet.")


def exam_creation_abandon(*, creation: ExamCreation) -> ExamCreation:
    """A person checked SmarterProctoring and states the exam was not created: allow sending again (same key, same
    apiExamId marker, so a duplicate would still be recognisable)."""
    ExamCreation.objects.filter(pk=creation.pk, status=ExamCreation.Status.UNKNOWN).update(
        status=ExamCreation.Status.FAILED, error="Checked by a person: not created.")
    creation.refresh_from_db()
    return creation
