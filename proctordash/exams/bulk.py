"""Bulk change: one change applied to several exam configurations, each with its own preview and outcome.

Built on the single-configuration services, not beside them: the preview reads with `configuration_get` (live, the
cached copy when the upstream is down) and each item is saved with `configuration_update`, so every guarantee of a
single save holds per item — the complete configuration is sent (full replacement, nothing the change does not
touch is lost), nothing is sent when the configuration changed upstream since the preview (conflict) or is locked,
the 24-hour guard asks for confirmation, a lost answer is recognised on retry, and history records each save.

Per item, idempotent: an item is claimed by a conditional UPDATE (pending/failed/confirm → sending) before its PUT,
so a double click or a second tab cannot send it twice, and a retry touches only the items that are not done.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db.models import F, Q
from django.utils import timezone

from proctordash.core.timezones import to_utc_z
from proctordash.core.vocabulary import PERMITTED_ITEMS
from proctordash.exams import fields as F_
from proctordash.exams import services
from proctordash.exams.models import BulkChange, BulkChangeItem, CachedConfiguration, ConfigurationChange

log = logging.getLogger(__name__)

MAX_ITEMS = 100  # applied one after the other within the request: keep a bulk change to what that can carry
STALE_SENDING = timedelta(minutes=3)  # a claim older than this belonged to a request that died


# --- the change itself ---------------------------------------------------------------------------------------------
def change_describe(change: dict) -> str:
    kind = change.get("kind")
    if kind == "permit":
        label = F_.PERMITTED_LABELS.get(change.get("item"), change.get("item"))
        info = change.get("information") or ""
        return f"Allow {label.lower()}" + (f" (“{info[:80]}”)" if info else "")
    if kind == "extend_close":
        return f"Extend the exam close date by {change.get('days')} day{'s' if change.get('days') != 1 else ''}"
    if kind == "duration":
        return f"Set the duration to {change.get('minutes')} minutes"
    if kind == "attempts":
        return f"Set attempts allowed to {change.get('attempts')}"
    return "Unknown change"


def change_apply(values: dict[str, Any], change: dict) -> tuple[dict[str, Any] | None, str]:
    """(new values, "") with the change applied to a configuration's normalised values, or (None, reason) when the
    change cannot apply to it (e.g. no close date to extend). Pure: the preview and every retry compute the same."""
    new = dict(values)
    kind = change.get("kind")
    if kind == "permit":
        item = change.get("item")
        if item not in PERMITTED_ITEMS:
            return None, f"Unknown permitted item {item!r}."
        new[f"permitted{item}"] = True
        if change.get("information"):
            new[f"permitted{item}Information"] = change["information"]
    elif kind == "extend_close":
        closes = F_.parse_date(values.get("examCloseDate"))
        if closes is None:
            return None, "This configuration has no exam close date to extend."
        new["examCloseDate"] = to_utc_z(closes + timedelta(days=int(change["days"])))
    elif kind == "duration":
        new["duration"] = int(change["minutes"])
    elif kind == "attempts":
        new["attempts"] = int(change["attempts"])
    else:
        return None, "Unknown change."
    return new, ""


# --- what can be picked --------------------------------------------------------------------------------------------
@dataclass
class Candidate:
    course_sid: str
    exam_sid: str
    sid: str
    exam_title: str
    kind: str  # "base" (known from a fetch) or "configuration" (seen on appointments, not fetched yet)
    offerings: set[str] = field(default_factory=set)


@dataclass
class CourseGroup:
    sid: str
    title: str
    offerings: dict[str, str]  # sid → title
    candidates: list[Candidate]


def bulk_candidates(*, user) -> list[CourseGroup]:
    """Base configurations the user may change, grouped by course: the fetched ones from the cache, and those the
    appointment cache names (per-student configurations, known from a fetch, are left out: accommodations are
    changed one by one on purpose)."""
    from proctordash.appointments.models import Appointment, Course, CourseOffering, Exam

    found: dict[str, Candidate] = {}
    per_student = set(CachedConfiguration.objects.exclude(enrollment_sid="").values_list("sid", flat=True))
    for c in CachedConfiguration.objects.for_user(user).filter(enrollment_sid=""):
        found[c.sid] = Candidate(c.course_sid, c.exam_sid, c.sid, "", "base")
    appointments = (Appointment.objects.for_user(user).exclude(configuration_sid="")
                    .values_list("course_sid", "course_offering_sid", "exam_sid", "configuration_sid").distinct())
    for course_sid, offering_sid, exam_sid, sid in appointments[:5000]:
        if sid in per_student:
            continue
        candidate = found.setdefault(sid, Candidate(course_sid, exam_sid, sid, "", "configuration"))
        if offering_sid:
            candidate.offerings.add(offering_sid)
    titles = dict(Exam.objects.filter(sid__in={c.exam_sid for c in found.values()}).values_list("sid", "title"))
    courses = dict(Course.objects.filter(sid__in={c.course_sid for c in found.values()}).values_list("sid", "title"))
    offering_titles = dict(CourseOffering.objects.filter(
        sid__in={o for c in found.values() for o in c.offerings}).values_list("sid", "title"))
    groups: dict[str, CourseGroup] = {}
    for c in found.values():
        c.exam_title = titles.get(c.exam_sid, "")
        group = groups.setdefault(c.course_sid, CourseGroup(c.course_sid, courses.get(c.course_sid, ""), {}, []))
        group.candidates.append(c)
        for o in c.offerings:
            group.offerings[o] = offering_titles.get(o, "")
    for group in groups.values():
        group.candidates.sort(key=lambda c: (c.exam_title.lower(), c.sid))
    return sorted(groups.values(), key=lambda g: (g.title.lower(), g.sid))


def targets_of(groups: list[CourseGroup], *, courses: list[str], offerings: list[str],
               configurations: list[str]) -> list[Candidate]:
    """The picked configurations: whole courses, whole offerings and single ones, each once, only among those the
    user may pick (a forged SID is simply not there)."""
    picked: dict[str, Candidate] = {}
    for group in groups:
        for c in group.candidates:
            if group.sid in courses or c.sid in configurations or c.offerings & set(offerings):
                picked.setdefault(c.sid, c)
    return list(picked.values())


# --- preview and apply ---------------------------------------------------------------------------------------------
def bulk_preview(*, user, change: dict, targets: list[Candidate], reason: str = "", client=None) -> BulkChange:
    """Record the bulk change and, per configuration, its current values and the before/after difference. Reads
    each configuration fresh (the cached copy when the upstream fails, marked as such); sends nothing."""
    client = client or services._client()
    bulk = BulkChange.objects.create(user=user if getattr(user, "pk", None) else None, change=change,
                                     description=change_describe(change)[:500], reason=reason[:300])
    for target in targets:
        item = BulkChangeItem(bulk=bulk, course_sid=target.course_sid, exam_sid=target.exam_sid,
                              configuration_sid=target.sid, exam_title=target.exam_title[:500])
        _preview_into(item, change, client=client)
        item.save()
    return bulk


def _preview_into(item: BulkChangeItem, change: dict, *, client) -> None:
    item.message, item.diff = "", []
    try:
        loaded = services.configuration_get(course_sid=item.course_sid, exam_sid=item.exam_sid,
                                            configuration_sid=item.configuration_sid, client=client)
    except services.ConfigurationNotFound:
        item.status, item.message = BulkChangeItem.Status.FAILED, "SmarterProctoring does not know this configuration."
        return
    except services.ConfigurationUnavailable as e:
        item.status, item.message = BulkChangeItem.Status.FAILED, e.message + " No preview is possible; retry later."
        return
    values = loaded.values
    item.base_values, item.base_hash, item.preview_live = values, F_.values_hash(values), loaded.live
    if not loaded.live:
        item.message = f"Preview from the copy fetched at {loaded.fetched_at:%Y-%m-%d %H:%M} UTC ({loaded.error}) " \
                       "The save checks the live configuration first."
    if loaded.raw.get("locked"):
        item.status = BulkChangeItem.Status.LOCKED
        item.message = "SmarterProctoring has locked this configuration; it will not be changed."
        return
    new, why = change_apply(values, change)
    if new is None:
        item.status, item.message = BulkChangeItem.Status.FAILED, why
        return
    item.diff = F_.diff_rows(values, new)
    if not item.diff:
        item.status, item.message = BulkChangeItem.Status.UNCHANGED, "Already so: nothing to change."
        return
    item.status = BulkChangeItem.Status.PENDING
    if services.needs_confirmation(loaded.raw, new_values=new):
        item.message = (item.message + " " if item.message else "") + \
            "The exam window opens within 24 hours (or is open): applying needs your explicit confirmation."


def bulk_item_rebase(*, item: BulkChangeItem, client=None) -> BulkChangeItem:
    """A conflict (or an item whose preview failed): preview it again on the configuration as it is now."""
    client = client or services._client()
    claimable = [BulkChangeItem.Status.CONFLICT, BulkChangeItem.Status.FAILED, BulkChangeItem.Status.PENDING,
                 BulkChangeItem.Status.CONFIRM]
    if item.status not in claimable:
        return item
    _preview_into(item, item.bulk.change, client=client)
    item.save()
    return item


def _claim(item: BulkChangeItem, now) -> bool:
    retry = [BulkChangeItem.Status.PENDING, BulkChangeItem.Status.FAILED, BulkChangeItem.Status.CONFIRM]
    return bool(BulkChangeItem.objects.filter(pk=item.pk).filter(
        Q(status__in=retry) | Q(status=BulkChangeItem.Status.SENDING, updated_at__lt=now - STALE_SENDING)
    ).exclude(base_hash="").update(status=BulkChangeItem.Status.SENDING, attempts=F("attempts") + 1, updated_at=now))


OUTCOME_STATUS = {
    "saved": BulkChangeItem.Status.SAVED, "unchanged": BulkChangeItem.Status.UNCHANGED,
    "conflict": BulkChangeItem.Status.CONFLICT, "locked": BulkChangeItem.Status.LOCKED,
    "confirm": BulkChangeItem.Status.CONFIRM, "invalid": BulkChangeItem.Status.FAILED,
    "failed": BulkChangeItem.Status.FAILED,
}


def bulk_apply(*, bulk: BulkChange, user, confirmed: bool = False, item_ids: set[int] | None = None,
               client=None) -> list[BulkChangeItem]:
    """Apply the change to every item not done yet (or only `item_ids`): one configuration_update per item, each
    claimed first so it is sent at most once at a time. A failure is recorded on its item; the others go on."""
    client = client or services._client()
    now = timezone.now()
    if bulk.applied_at is None:
        BulkChange.objects.filter(pk=bulk.pk, applied_at__isnull=True).update(applied_at=now)
    items = bulk.items.all()
    if item_ids is not None:
        items = items.filter(pk__in=item_ids)
    done = []
    for item in items:
        if not _claim(item, now):
            continue
        item.refresh_from_db()
        new, why = change_apply(item.base_values, bulk.change)
        if new is None:
            _finish(item, BulkChangeItem.Status.FAILED, why)
            continue
        try:
            outcome = services.configuration_update(
                user=user, course_sid=item.course_sid, exam_sid=item.exam_sid,
                configuration_sid=item.configuration_sid, base_hash=item.base_hash, base_values=item.base_values,
                new_values=new, reason=f"Bulk change #{bulk.pk}: {bulk.description}"[:500]
                + (f" — {bulk.reason}" if bulk.reason else ""), confirmed=confirmed, client=client,
                source=ConfigurationChange.Source.BULK)
        except services.ConfigurationNotFound:
            _finish(item, BulkChangeItem.Status.FAILED, "SmarterProctoring does not know this configuration.")
            continue
        except Exception as e:  # noqa: BLE001 - one item's surprise must not leave it "sending" nor stop the rest
            log.exception("bulk change %s item %s failed", bulk.pk, item.pk)
            _finish(item, BulkChangeItem.Status.FAILED, f"Unexpected error ({type(e).__name__}); retry.")
            continue
        if outcome.change is not None:
            ConfigurationChange.objects.filter(pk=outcome.change.pk).update(bulk=bulk)
        message = outcome.message
        if outcome.field_errors:
            message += " " + "; ".join(f"{k}: {v}" for k, v in outcome.field_errors.items())
        _finish(item, OUTCOME_STATUS.get(outcome.kind, BulkChangeItem.Status.FAILED), message)
        done.append(item)
    return done


def _finish(item: BulkChangeItem, status: str, message: str) -> None:
    item.status, item.message = status, message[:1000]
    item.save(update_fields=["status", "message", "updated_at"])


def bulk_summary(bulk: BulkChange) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in bulk.items.values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts
