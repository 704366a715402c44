"""Read paths over the appointment cache. Pages never call the upstream; every selector scopes to what the user may
see (`for_user`) and to rows still present upstream (`live`).

The filters reproduce the upstream report's semantics (docs/architecture.md, "Upstream semantics"): exact matches on
SIDs and enums, case-insensitive substring on the lowercased *_search columns, `appointmentAfter` inclusive and
`appointmentBefore` exclusive (compared in UTC; a null date never matches a date filter).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
import logging
import re
from datetime import date, datetime, timedelta
from typing import NamedTuple

from django.core.cache import cache

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Count, DateField, F, Max, Min, Q, QuerySet, Sum, Value
from django.db.models.functions import StrIndex, TruncDate
from django.http import Http404
from django.utils import timezone

from proctordash.appointments.forms import (DEFAULT_SORT, DEFAULT_SORT_FOR_WHEN, EXACT_FILTERS, SORT_KEYS,
                                            TEXT_FILTERS, Group, prepare_pickers, start_of_today)
from proctordash.appointments import counts
from proctordash.appointments.models import (Appointment, AppointmentCountsState, AppointmentDayCount, Course,
                                             CourseOffering, EnrollmentExamSession, Exam, SavedView)
from proctordash.core import timezones, vocabulary
from proctordash.accounts.permissions import ALL, can_view_course, visible_course_sids

LIST_COLUMNS = [  # what the list and the export read: no `raw` (it can be large)
    "id", "sid", "appointment_date", "learner_first_name", "learner_last_name", "learner_email", "learner_sid",
    "course_sid", "course_title", "exam_sid", "exam_title", "session_type", "status", "review_status",
    "review_by_date", "session_report_count",
]
DUE_SOON = timedelta(hours=24)
log = logging.getLogger(__name__)


class ListRow:
    """One row of the list's page: an appointment's LIST_COLUMNS as attributes (what rendering.rows_html reads),
    built from a tuple. Model instances cost ~20 µs each to build (a millisecond per page of 50) for nothing the
    page uses."""

    __slots__ = (*LIST_COLUMNS, "review_flag")

    def __init__(self, values):
        for name, value in zip(LIST_COLUMNS, values):
            setattr(self, name, value)
        self.review_flag = ""

    @property
    def learner_name(self) -> str:
        return " ".join(part for part in (self.learner_first_name, self.learner_last_name) if part)

    def __repr__(self) -> str:
        return f"<ListRow {self.sid}>"


def _list_rows(qs: QuerySet[Appointment]) -> list[ListRow]:
    return [ListRow(values) for values in _fetch_list(qs)]


def _fetch_list(qs: QuerySet[Appointment]) -> list:
    try:
        sql, params = qs.values_list(*LIST_COLUMNS).query.sql_with_params()
    except EmptyResultSet:
        return []
    return _fetch(sql, params)


_DATETIME_AT = [LIST_COLUMNS.index("appointment_date"), LIST_COLUMNS.index("review_by_date")]


def _fetch(sql: str, params) -> list:
    """Rows of LIST_COLUMNS (and anything after them) straight from the cursor: PostgreSQL's driver already gives
    every value its Python type (aware datetimes included), so the ORM's per-value converters are skipped; SQLite's
    text datetimes are converted as the ORM would."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    if connection.vendor != "postgresql":
        convert = connection.ops.convert_datetimefield_value
        fetched = [list(values) for values in fetched]
        for values in fetched:
            for i in _DATETIME_AT:
                values[i] = convert(values[i], None, connection)
    return fetched


WHOLE_SID = re.compile(r"us[0-9a-f]{32}")
SEARCH_TEXT_FILTERS = {"learnerFirstName", "learnerLastName", "learnerEmail", "courseTitle", "examTitle"}
SIGMA = {"σ", "ς"}


def appointment_base(*, user) -> QuerySet[Appointment]:
    return Appointment.objects.live().for_user(user)


@dataclass(frozen=True)
class DateWindow:
    """Which appointment dates a filter matches: after ≤ date < before (None: unbounded); `undated`: appointments
    without a date match too (no date filter at all, or the default "from today on", which keeps them)."""

    after: datetime | None
    before: datetime | None
    undated: bool


def date_window(filters: dict) -> DateWindow:
    """The dates `filters` select: a typed range wins; else ?when= ("" from the start of today on plus the undated,
    "past" before today, "all" everything)."""
    after, before = filters.get("appointmentAfter"), filters.get("appointmentBefore")
    if after or before:
        return DateWindow(after or None, before or None, False)
    when = filters.get("when") or ""
    if when in ("", "past"):
        today = filters.get("today_start") or start_of_today()
        return DateWindow(None, today, False) if when == "past" else DateWindow(today, None, True)
    return DateWindow(None, None, True)


def appointment_filter(qs: QuerySet[Appointment], filters: dict, *, dates: str = "any") -> QuerySet[Appointment]:
    """Apply cleaned filter values (keys = the report's query names). Empty values mean "not filtered".
    `dates`: "any" (what the filter matches), "dated" or "undated" (only its rows with / without a date: the list
    reads the two apart, so that each is a plain range of an index)."""
    for name, column in EXACT_FILTERS.items():
        if filters.get(name):
            qs = qs.filter(**{column: filters[name]})
    for name, column in TEXT_FILTERS.items():
        if filters.get(name):
            # the column is already lowercased; `contains` escapes % and _, so this is the upstream's `in`
            value = filters[name].lower()
            if name == "learnerSid" and WHOLE_SID.fullmatch(value):
                # a whole SID is contained only in itself (no other character lowercases into a SID's), so this
                # is the same filter, read through the appt_learner_sid_search index
                qs = qs.filter(learner_sid_search=value)
                continue
            if name in SEARCH_TEXT_FILTERS and value == value.strip() and not SIGMA & set(value):
                # Also in search_text: implied (search_text holds the field, lowercased with the others) and served
                # by the trigram index appt_search_trgm on PostgreSQL. Not for a value with edge spaces (the name
                # line is stripped) or a sigma (the one letter lowercased by context). The field's own test is
                # written as strpos() > 0 (the same substring test as `contains`), which the planner does not
                # estimate from statistics: two LIKEs of one value would be estimated as independent (8 % × 8 % of
                # the rows for a common first name), and a frequent name read through the index instead of walking
                # the date order a few hundred rows.
                qs = qs.filter(search_text__contains=value).alias(**{f"{column}_at": StrIndex(column, Value(value))})
                qs = qs.filter(**{f"{column}_at__gt": 0})
                continue
            qs = qs.filter(**{f"{column}__contains": value})
    window = date_window(filters)
    if dates == "undated":
        qs = qs.filter(appointment_date__isnull=True) if window.undated else qs.none()
    elif dates == "dated" or not window.undated:
        if window.after:
            qs = qs.filter(appointment_date__gte=window.after)
        if window.before:
            qs = qs.filter(appointment_date__lt=window.before)
        if dates == "dated" and not (window.after or window.before):
            qs = qs.filter(appointment_date__isnull=False)
    elif window.after:  # from today on, and the appointments that have no date yet (Needs Proctor): they need attention too
        qs = qs.filter(Q(appointment_date__gte=window.after) | Q(appointment_date__isnull=True))
    for term in (filters.get("q") or "").lower().split():
        qs = qs.filter(search_text__contains=term)
    return qs


def sort_of(filters: dict) -> str:
    """The list's sort key (with "-" for descending): ?sort=, else the default of ?when=."""
    sort = filters.get("sort") or DEFAULT_SORT_FOR_WHEN.get(filters.get("when") or "", DEFAULT_SORT)
    return sort if sort.lstrip("-") in SORT_KEYS else DEFAULT_SORT


_NULLABLE = {f.name for f in Appointment._meta.get_fields() if getattr(f, "null", False)}


class OrderKey(NamedTuple):
    column: str
    descending: bool
    nulls_last: bool


def order_keys(sort: str | None, *, dated: bool = False) -> list[OrderKey]:
    """The list's order for `sort`: any column, ascending or descending (`-key`); nulls last either way; a learner's
    first name after the last name; `sid` (ascending) breaks ties so paging is stable. NULLS LAST only for columns
    that can be null (and not for the date of `dated` rows): PostgreSQL reads an index backwards as DESC NULLS
    FIRST, so a needless NULLS LAST on a descending sort would sort every row."""
    sort = sort or DEFAULT_SORT
    if sort.lstrip("-") not in SORT_KEYS:
        sort = DEFAULT_SORT
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    column = SORT_KEYS[key]
    keys = [OrderKey(column, descending, column in _NULLABLE and not (dated and column == "appointment_date"))]
    if key == "learner":
        keys.append(OrderKey("learner_first_name", descending, False))
    keys.append(OrderKey("sid", False, False))
    return keys


def appointment_order(qs: QuerySet[Appointment], sort: str | None, *, dated: bool = False) -> QuerySet[Appointment]:
    """`qs` in the list's order (order_keys)."""
    order = []
    for key in order_keys(sort, dated=dated):
        nulls = {"nulls_last": True} if key.nulls_last else {}
        order.append(F(key.column).desc(**nulls) if key.descending else F(key.column).asc(**nulls))
    return qs.order_by(*order)


def appointment_list(*, user, filters: dict) -> QuerySet[Appointment]:
    """The filtered, sorted appointments the user may see (the list page and the CSV export read this)."""
    return appointment_order(appointment_filter(appointment_base(user=user), filters), sort_of(filters))


def appointment_export_parts(*, user, filters: dict) -> list[QuerySet[Appointment]]:
    """What the CSV export streams, in the list's order: sorted by date, the dated rows (read in index order) and
    then the undated ones (by sid), so that no part has to be sorted before its first row; otherwise the list's
    queryset."""
    sort = sort_of(filters)
    if sort.lstrip("-") != "appointmentDate":
        return [appointment_list(user=user, filters=filters)]
    base = appointment_base(user=user)
    parts = [appointment_order(appointment_filter(base, filters, dates="dated"), sort, dated=True)]
    if date_window(filters).undated:
        parts.append(appointment_filter(base, filters, dates="undated").order_by("sid"))
    return parts


COUNT_BOUND = 10_000  # a filter the per-day counts cannot answer is counted up to this many rows, then "10,000+"


@dataclass
class Overview:
    """What the list shows above its rows: the total, the count per status, and (local day, status, count) rows
    for the chart (day None = no date). `exact` False: more than COUNT_BOUND appointments match a filter the
    per-day counts cannot answer; `total` is then COUNT_BOUND, and the status counts and the chart are unknown.
    `source`: "counts" (the per-day counts table), "rows" (the matching rows, all counted)."""

    total: int
    status_counts: dict[str, int]
    per_day: list[tuple]
    exact: bool = True
    source: str = "rows"
    # (page, per_page, ids in the list's order): one page's rows, ranked in the same read as the counts
    # (_overview_and_page_from_rows); appointment_page reads them by id instead of finding the matches again
    page_ids: tuple[int, int, list[int]] | None = field(default=None, repr=False)

    @classmethod
    def over_bound(cls, source: str = "rows") -> Overview:
        """More than COUNT_BOUND matches: the total shown as "10,000+", status counts and chart unknown."""
        return cls(COUNT_BOUND, {status: None for status in vocabulary.APPOINTMENT_STATUSES}, [], exact=False,
                   source=source)

    @classmethod
    def counted(cls, rows, *, page_ids: tuple | None = None) -> Overview:
        """From (day, status, count) rows of the matches read up to COUNT_BOUND + 1 (SQLite gives days as text)."""
        if sum(n for *_, n in rows) > COUNT_BOUND:
            return cls.over_bound()
        per_day = sorted(((date.fromisoformat(day) if isinstance(day, str) else day, status, n)
                          for day, status, n in rows), key=_day_order)
        status_counts = status_counts_from(per_day)
        return cls(sum(status_counts.values()), status_counts, per_day, page_ids=page_ids)

    @property
    def display(self) -> str:
        return f"{self.total:,}" if self.exact else f"{COUNT_BOUND:,}+"

    @property
    def undated(self) -> int:
        return sum(n for day, _status, n in self.per_day if day is None)


def appointment_overview(*, user, filters: dict, qs: QuerySet[Appointment] | None = None, page: int | None = None,
                         per_page: int | None = None) -> Overview:
    """The list's total, per-status counts and chart data for a filter, in ONE query whatever the number of rows:
    - from the per-day × status counts (appointments/counts.py) when they can answer: no text filter or search, at
      most one of the picker filters (course, exam, offering, type, review status, exam status; an instructor's
      courses count as the course filter), any status and dates. Days cut by a bound that is not a local midnight
      are counted from their rows (one day's rows at most, added to the same query);
    - otherwise from the matching rows, read up to COUNT_BOUND + 1: exact up to COUNT_BOUND, else "10,000+". Given
      the `page` (and `per_page`) the list will show, a text filter that matches few rows (its sample says so, or
      there is no sample) has that same read rank the matches and keep that page's ids, so the page does not find
      the matches a second time (the trigram scan and the visits to every candidate row were half its SQL).
    `qs` = appointment_list(...) when the caller already built it."""
    if qs is None:
        qs = appointment_list(user=user, filters=filters)
    plan = _counts_plan(user=user, filters=filters)
    if plan is not None:
        dim, values = plan
        if not values:  # an instructor without courses, or a course they do not teach
            return Overview(0, status_counts_from([]), [], source="counts")
        overview = _overview_from_counts(dim, values, filters, qs)
        if overview is not None:
            return overview
    elif _has_text(filters):
        sample = _text_sample(qs)
        if sample.over_bound:
            return Overview.over_bound(source="sample")
        if page and per_page and (sample.matches is None or sample.matches < SAMPLE_FEW):
            return _overview_and_page_from_rows(qs, sort_of(filters), page, per_page)
    return _overview_from_rows(qs)


def _has_text(filters: dict) -> bool:
    return any(filters.get(name) for name in TEXT_FILTERS) or bool((filters.get("q") or "").split())


SAMPLE_ROWS = 2_000  # rows of the table a text filter is first tried on (PostgreSQL)
# Fewer matches than this in the sample (~1 % of the rows): the matches are read once for the counts and the page
# (_overview_and_page_from_rows), which saves a whole second trigram scan; with more, the page's 50 rows are found
# sooner by walking the list's order than by ranking thousands of materialised matches (measured at 100,000 rows:
# examTitle=midterm, 9,753 matches, +5 ms of PostgreSQL CPU per page read once).
SAMPLE_FEW = 25


class Sample(NamedTuple):
    over_bound: bool  # beyond doubt more than COUNT_BOUND matches
    matches: int | None  # matches among the sampled rows; None: not sampled (not PostgreSQL, or a query it can't)
# the table's size (pg_class.reltuples) as the last sample read it, per database (this process): the next sample's
# percentage is then written as a number, which the planner can see
_table_rows: dict[str, float] = {}


def _text_sample(qs: QuerySet[Appointment]) -> Sample:
    """PostgreSQL: whether a sample of the table shows, beyond doubt, more than COUNT_BOUND rows matching `qs`, and
    how many of the sampled rows match.
    Counting up to the bound costs a visit per match (and a trigram index reads every match of a word as common as
    a course's name), 10,000 visits at 1,000,000 appointments; the same ~2,000 sampled rows (TABLESAMPLE SYSTEM,
    whole pages, the same pages each time: REPEATABLE) cost the same at any size. "Beyond doubt": the matches in the
    sample minus three standard deviations (Poisson), scaled to the table, still exceed the bound; anything closer
    is counted.

    The percentage is a number computed from the table's size as the previous sample read it (the first sample of a
    process reads it in a subquery): the planner cannot see a subquery's value and plans for 10 % of the table,
    which at 1,000,000 appointments passed jit_above_cost, and compiling the query cost ~10 ms per page (JIT)."""
    if connection.vendor != "postgresql":
        return Sample(False, None)
    try:
        sql, params = qs.order_by().values("pk").query.sql_with_params()
    except EmptyResultSet:
        return Sample(False, 0)
    table = connection.ops.quote_name(Appointment._meta.db_table)
    if sql.count(f"FROM {table} ") != 1:
        return Sample(False, None)
    stats = f"FROM pg_class WHERE oid = '{Appointment._meta.db_table}'::regclass"
    known = _table_rows.get(connection.settings_dict["NAME"])
    if known is None:
        percent = f"(SELECT least(100, 100.0 * {SAMPLE_ROWS} / greatest(reltuples, 1)) {stats})"
    else:
        percent = f"{min(100.0, 100.0 * SAMPLE_ROWS / max(known, 1.0)):.6f}"
    sample = f"{table} TABLESAMPLE SYSTEM ({percent}) REPEATABLE (7)"
    sampled_sql = sql.replace(f"FROM {table} ", f"FROM {sample} ", 1)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT (SELECT count(*) FROM ({sampled_sql}) AS matches), (SELECT count(*) FROM {sample}), "
                       f"(SELECT greatest(reltuples, 0) {stats})", params)
        matches, sampled, rows = cursor.fetchone()
    _table_rows[connection.settings_dict["NAME"]] = float(rows)
    if not sampled or matches < 25:
        return Sample(False, matches)
    return Sample((matches - 3 * matches ** 0.5) / sampled * max(rows, sampled) > COUNT_BOUND, matches)


def _counts_plan(*, user, filters: dict) -> tuple[str, list[str]] | None:
    """(dimension, values) of the per-day counts that answer `filters` for this user, or None."""
    if _has_text(filters):
        return None
    picked = [(dim, filters[name]) for name, dim in counts.FILTER_DIMENSIONS.items() if filters.get(name)]
    scope = visible_course_sids(user)
    if scope is not ALL:
        if not picked:
            return "course", sorted(scope)
        if len(picked) == 1 and picked[0][0] == "course":
            return "course", [picked[0][1]] if picked[0][1] in scope else []
        return None
    if len(picked) > 1:
        return None
    return (picked[0][0], [picked[0][1]]) if picked else (counts.ALL, [""])


def _day_split(window: DateWindow, zone) -> tuple[date | None, date | None, list[tuple[datetime, datetime]]]:
    """(first whole day, day after the last whole day, [(start, end) of the cut days]) of a date window: whole local
    days come from the counts, a day cut by a bound inside it from its rows."""
    a, b = window.after, window.before
    lo = hi = None
    cut_a = cut_b = None
    if a is not None:
        day = counts.local_day(a, zone)
        if a == counts.day_start(day, zone):
            lo = day
        else:
            lo = counts.next_day(day)
            cut_a = (a, counts.day_start(lo, zone))
    if b is not None:
        hi = counts.local_day(b, zone)
        if b != counts.day_start(hi, zone):
            cut_b = (counts.day_start(hi, zone), b)
    if cut_a and cut_b and cut_a[1] > cut_b[0]:  # both bounds inside one day
        cuts = [(a, b)]
    else:
        cuts = [cut for cut in (cut_a, cut_b) if cut]
        cuts = [(max(s, a) if a else s, min(e, b) if b else e) for s, e in cuts]
    return lo, hi, [(s, e) for s, e in cuts if s < e]


def _overview_from_counts(dim: str, values: list[str], filters: dict, qs: QuerySet[Appointment]) -> Overview | None:
    """One UNION query: the counts of the whole days, the rows of cut days, and the counts' zone (None when the
    counts are not in the dashboard's zone: the caller counts rows instead). The counts' part is written here rather
    than compiled by the ORM (it is the whole cost of this function on most pages: ~1 ms less per page)."""
    zone = timezones.dashboard_zone()
    window = date_window(filters)
    lo, hi, cuts = _day_split(window, zone)
    quote = connection.ops.quote_name
    where = [f"dim = %s", f"value IN ({', '.join(['%s'] * len(values))})"]
    params: list = [dim, *values]
    if filters.get("status"):
        where.append("status = %s")
        params.append(filters["status"])
    days = ["day > %s"]
    day_params: list = [counts.UNDATED]
    if lo is not None:
        days.append("day >= %s")
        day_params.append(lo)
    if hi is not None:
        days.append("day < %s")
        day_params.append(hi)
    whole_days = not (lo is not None and hi is not None and lo >= hi)
    if whole_days and window.undated:
        where.append(f"(({' AND '.join(days)}) OR day = %s)")
        params += [*day_params, counts.UNDATED]
    elif whole_days:
        where.append(" AND ".join(days))
        params += day_params
    else:
        where.append("day = %s")  # no whole day: only the undated, if the window keeps them
        params.append(counts.UNDATED if window.undated else date.max)
    table = quote(AppointmentDayCount._meta.db_table)
    if len(values) == 1:  # one count per (day, status) already
        parts = [f"SELECT 0 AS kind, day, status, n FROM {table} WHERE {' AND '.join(where)}"]
    else:  # an instructor's courses: added up per (day, status)
        parts = [f"SELECT 0 AS kind, day, status, SUM(n) AS n FROM {table} WHERE {' AND '.join(where)} "
                 "GROUP BY day, status"]
    for start, end in cuts:
        cut = (qs.filter(appointment_date__gte=start, appointment_date__lt=end).order_by()
               .annotate(kind=Value(1), day=TruncDate("appointment_date", tzinfo=zone))
               .values_list("kind", "day", "status").annotate(n=Count("*")))
        try:
            sql, cut_params = cut.query.sql_with_params()
        except EmptyResultSet:
            continue
        parts.append(f"SELECT * FROM ({sql}) AS cut")
        params += cut_params
    parts.append(f"SELECT 2, NULL, zone, 0 FROM {quote(AppointmentCountsState._meta.db_table)} WHERE id = 1")
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        rows = cursor.fetchall()
    # One pass (the unfiltered list has a row per day and status: ~1,800 for a year). Each (day, status) comes once:
    # whole days from the counts, cut days from their rows, never both. In no particular order (nothing needs one).
    zone_ok = False
    per_day = []
    status_counts = {status: 0 for status in vocabulary.APPOINTMENT_STATUSES}
    undated = (counts.UNDATED, counts.UNDATED.isoformat())  # SQLite: a date or text, depending on the part
    for kind, day, status, n in rows:
        if kind == 2:
            zone_ok = status == zone.key
        elif n:
            per_day.append((None if day in undated else day, status, n))
            status = status or "(none)"
            status_counts[status] = status_counts.get(status, 0) + n
    if not zone_ok:
        log.warning("The appointment counts are not in the dashboard's zone %s (or missing): counting rows until "
                    "`manage.py appointment_counts --rebuild` or the next sync page rebuilds them.", zone.key)
        return None
    if connection.vendor != "postgresql":  # SQLite returns days as text
        per_day = [(date.fromisoformat(day) if isinstance(day, str) else day, status, n) for day, status, n in per_day]
    return Overview(sum(status_counts.values()), status_counts, per_day, source="counts")


def _day_order(row: tuple) -> tuple:
    return (row[0] is None, row[0] or date.min, row[1])


def _overview_from_rows(qs: QuerySet[Appointment]) -> Overview:
    """Count the matching rows by local day and status, reading at most COUNT_BOUND + 1 of them."""
    inner = (qs.order_by().annotate(day=TruncDate("appointment_date", tzinfo=timezones.dashboard_zone()))
             .values_list("day", "status")[:COUNT_BOUND + 1])
    try:
        sql, params = inner.query.sql_with_params()
    except EmptyResultSet:
        return Overview(0, status_counts_from([]), [])
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT day, status, COUNT(*) FROM ({sql}) matches GROUP BY day, status", params)
        rows = cursor.fetchall()
    return Overview.counted(rows)


def _overview_and_page_from_rows(qs: QuerySet[Appointment], sort: str, page: int, per_page: int) -> Overview:
    """_overview_from_rows and one page of the list's order from ONE read of the matches (at most COUNT_BOUND + 1):
    the matches are materialised once (their id, local day, status and sort keys), then grouped for the counts and
    sorted in the list's order (order_keys, as appointment_order) to the page's ids (a top-N sort: only the page is
    kept in order). Each id carries its place on the page, numbered as the sorted subquery hands them over, so the
    order does not rest on how a UNION passes rows on. A page past the end is the last page (as the list clamps
    it). More than COUNT_BOUND matches: the "10,000+" overview, without ids (the page then reads its rows itself)."""
    keys = order_keys(sort)
    inner = (qs.order_by().annotate(day=TruncDate("appointment_date", tzinfo=timezones.dashboard_zone()),
                                    **{f"sort_key{i}": F(key.column) for i, key in enumerate(keys)})
             .values_list("id", "day", "status", *(f"sort_key{i}" for i in range(len(keys))))[:COUNT_BOUND + 1])
    try:
        sql, params = inner.query.sql_with_params()
    except EmptyResultSet:
        return Overview(0, status_counts_from([]), [], page_ids=(page, per_page, []))
    order = [f"sort_key{i}" + (" DESC" if key.descending else "") + (" NULLS LAST" if key.nulls_last else "")
             for i, key in enumerate(keys)]
    offset = (page - 1) * per_page
    materialized = "MATERIALIZED " if connection.vendor == "postgresql" else ""
    statement = (
        f"WITH matches AS {materialized}({sql}) "
        "SELECT 0, day, status, COUNT(*), NULL FROM matches GROUP BY day, status "
        "UNION ALL SELECT 1, NULL, NULL, ROW_NUMBER() OVER (), shown.id FROM "
        f"(SELECT id FROM matches ORDER BY {', '.join(order)} LIMIT %s OFFSET "
        # a page past the end is the last page, as the list shows it
        "(SELECT CASE WHEN COUNT(*) > %s THEN %s ELSE (COUNT(*) - 1) / %s * %s END FROM matches)) AS shown")
    with connection.cursor() as cursor:
        cursor.execute(statement, [*params, per_page, offset, offset, per_page, per_page])
        fetched = cursor.fetchall()
    counted = [(day, status, n) for kind, day, status, n, _id in fetched if kind == 0]
    total = sum(n for *_, n in counted)
    ids = [row_id for _n, row_id in sorted((n, row_id) for kind, _day, _status, n, row_id in fetched if kind == 1)]
    return Overview.counted(counted, page_ids=(min(page, max(1, -(-total // per_page))), per_page, ids))


def appointment_status_counts(qs: QuerySet[Appointment]) -> dict[str, int]:
    """Per-status counts of a filtered queryset in one query (their sum is the total)."""
    return status_counts_from(qs.order_by().values_list("status").annotate(n=Count("id")))


def status_counts_from(rows) -> dict[str, int]:
    counts = {status: 0 for status in vocabulary.APPOINTMENT_STATUSES}
    for *_, status, n in rows:
        counts[status or "(none)"] = counts.get(status or "(none)", 0) + n
    return counts


def appointment_per_day(qs: QuerySet[Appointment]) -> list[tuple]:
    """(local date or None, status, count), days in the dashboard's time zone, counting every matching row."""
    return list(
        qs.order_by()
        .annotate(day=TruncDate("appointment_date", tzinfo=timezones.dashboard_zone()))
        .values_list("day", "status").annotate(n=Count("*")).order_by("day")
    )


def appointment_page(*, user, filters: dict, overview: Overview, page: int, per_page: int) -> tuple[list, bool]:
    """The rows of one page (LIST_COLUMNS only) and whether a next page exists, read through an index whatever
    the page: sorted by date, the rows with a date and those without are read apart (each a plain index range; no
    OR), and a deep page starts at its day (the overview's per-day counts say where); other sorts read from the
    nearer end (the last page is as cheap as the first)."""
    sort = sort_of(filters)
    offset = (page - 1) * per_page
    base = appointment_base(user=user)
    if overview.page_ids is not None and overview.page_ids[:2] == (page, per_page):
        ids = overview.page_ids[2]
        by_id = {row.id: row for row in _list_rows(base.filter(id__in=ids).order_by())} if ids else {}
        return [by_id[row_id] for row_id in ids if row_id in by_id], offset + per_page < overview.total
    if sort.lstrip("-") == "appointmentDate":
        return _date_sorted_page(base, filters, overview, sort, offset, per_page)
    ordered = appointment_order(appointment_filter(base, filters), sort)
    if overview.exact:
        if offset > overview.total // 2:  # nearer the end: read backwards from there
            remaining = overview.total - offset
            take = min(per_page, remaining)
            rows = _list_rows(ordered.reverse()[remaining - take:remaining])[::-1] if take > 0 else []
        else:
            rows = _list_rows(ordered[offset:offset + per_page])
        return rows, offset + per_page < overview.total
    rows = _list_rows(ordered[offset:offset + per_page + 1])
    return rows[:per_page], len(rows) > per_page


def _date_sorted_page(base, filters, overview: Overview, sort: str, offset: int, per_page: int):
    zone = timezones.dashboard_zone()
    descending = sort.startswith("-")
    window = date_window(filters)
    dated = appointment_order(appointment_filter(base, filters, dates="dated"), sort, dated=True)

    def undated():  # built only for a page that reaches them
        return appointment_filter(base, filters, dates="undated").order_by("sid")
    if not overview.exact:  # how many rows have a date is unknown: the dated ones first, the undated if they run out
        rows = _list_rows(dated[offset:offset + per_page + 1])
        if window.undated and len(rows) <= per_page:
            # the first undated row follows the last dated one; a page past every dated row counts them (rare: the
            # end of a list shown as "10,000+")
            start = 0 if rows or not offset else offset - dated.count()
            rows += _list_rows(undated()[start:start + per_page + 1 - len(rows)])
        return rows[:per_page], len(rows) > per_page
    n_dated = overview.total - overview.undated
    parts = []
    if offset < n_dated:
        seek, skip = dated, offset
        days: dict[date, int] = {}
        for day, _status, n in overview.per_day:
            if day is not None:
                days[day] = days.get(day, 0) + n
        before = 0
        for day in sorted(days, reverse=descending):
            if before + days[day] > offset:
                break
            before += days[day]
        if before:  # start at the page's day instead of skipping every row before it
            bound = (Q(appointment_date__lt=counts.day_start(counts.next_day(day), zone)) if descending
                     else Q(appointment_date__gte=counts.day_start(day, zone)))
            seek, skip = dated.filter(bound), offset - before
        parts.append(("dated", seek[skip:skip + min(per_page, n_dated - offset)]))
    if window.undated and overview.undated and offset + per_page > n_dated:
        start, end = max(0, offset - n_dated), min(offset + per_page - n_dated, overview.undated)
        if start > overview.undated // 2:  # nearer their end: read backwards (sid descending) from there
            parts.append(("undated", undated().order_by("-sid")[overview.undated - end:overview.undated - start]))
        else:
            parts.append(("undated", undated()[start:end]))
    return _in_parts(parts, descending), offset + per_page < overview.total


def _in_parts(parts: list[tuple[str, QuerySet]], descending: bool) -> list[ListRow]:
    """Rows of consecutive parts of one order ("dated" rows by date, then "undated" rows by sid), in one query: each
    part keeps its own ORDER BY and LIMIT inside a UNION ALL (a form both PostgreSQL and SQLite accept), and the
    rows are put in the list's order here (a part may have been read backwards)."""
    if len(parts) == 1:
        kinds = [parts[0][0]]
        fetched = [(*row, 0) for row in _fetch_list(parts[0][1])]
    else:
        kinds = [kind for kind, _part in parts]
        sqls, params = [], []
        for i, (_kind, part) in enumerate(parts):
            try:
                sql, part_params = (part.annotate(part=Value(i)).values_list(*LIST_COLUMNS, "part")
                                    .query.sql_with_params())
            except EmptyResultSet:
                continue
            sqls.append(f"SELECT * FROM ({sql}) AS part{i}")
            params.extend(part_params)
        fetched = _fetch(" UNION ALL ".join(sqls), params) if sqls else []
    rows = [(ListRow(values), kinds[values[-1]]) for values in fetched]
    dated = sorted((r for r, kind in rows if kind == "dated"), key=lambda r: r.sid)
    dated.sort(key=lambda r: r.appointment_date, reverse=descending)
    return dated + sorted((r for r, kind in rows if kind == "undated"), key=lambda r: r.sid)


def appointment_get(*, user, sid: str) -> Appointment:
    """One appointment, or 404 (also for another course's appointment: its existence is not confirmed)."""
    if "\x00" in sid:  # no SID holds NUL, and PostgreSQL's text cannot even compare with one
        raise Http404("No such appointment")
    appointment = Appointment.objects.live().filter(sid=sid).first()
    if appointment is None or not can_view_course(user, appointment.course_sid):
        raise Http404("No such appointment")
    return appointment


def exam_session_list(*, user, appointment: Appointment) -> list[EnrollmentExamSession]:
    return list(
        EnrollmentExamSession.objects.for_user(user)
        .filter(enrollment_sid=appointment.enrollment_sid, exam_sid=appointment.exam_sid, removed_at__isnull=True)
        .order_by(F("created_date").desc(nulls_last=True), "sid")
    )


def course_choices(*, user) -> list[Course]:
    sids = visible_course_sids(user)
    qs = Course.objects.all()
    if sids is not ALL:
        qs = qs.filter(sid__in=sids)
    return list(qs.only("sid", "title", "code", "offering_sid", "offering_title"))


def exam_choices(*, user) -> list[Exam]:
    return list(Exam.objects.for_user(user).only("sid", "title", "course_sid"))


def offering_choices(*, user, courses: list[Course]) -> list[tuple]:
    """Offerings for the picker, grouped under their course's title (a course has several offerings)."""
    sids = visible_course_sids(user)
    qs = CourseOffering.objects.all()
    if sids is not ALL:
        qs = qs.filter(course_sid__in=sids)
    titles = {c.sid: c.title or c.sid for c in courses}
    groups: dict[str, list] = {}
    for offering in qs.only("sid", "course_sid", "title"):
        groups.setdefault(offering.course_sid, []).append((offering.sid, offering.title or offering.sid))
    return sorted(((Group(titles.get(sid, sid), sid), options) for sid, options in groups.items()),
                  key=lambda item: item[0].label.lower())


def exam_windows(*, user) -> dict[str, tuple]:
    """exam SID → (first, last) appointment date (or local day) of its live appointments the user may see: the exam
    picker's "window", which tells apart exams of the same title in one course. For a user who sees every course,
    two index reads per exam in the per-day counts (a GROUP BY over 1,000,000 appointments took 2.2 s, once per
    sync generation); otherwise, or while the counts are not in the dashboard's zone, one GROUP BY over the user's
    rows."""
    if visible_course_sids(user) is ALL:
        windows = _exam_windows_from_counts()
        if windows is not None:
            return windows
    rows = (appointment_base(user=user).exclude(exam_sid="").order_by().values_list("exam_sid")
            .annotate(first=Min("appointment_date"), last=Max("appointment_date")))
    return {sid: (first, last) for sid, first, last in rows}


def _exam_windows_from_counts() -> dict[str, tuple] | None:
    table = connection.ops.quote_name(AppointmentDayCount._meta.db_table)
    day = f"FROM {table} WHERE dim = 'exam' AND value = exam.sid AND day > %s"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT exam.sid, (SELECT MIN(day) {day}), (SELECT MAX(day) {day}), "
            f"(SELECT zone FROM {connection.ops.quote_name(AppointmentCountsState._meta.db_table)} WHERE id = 1) "
            f"FROM {connection.ops.quote_name(Exam._meta.db_table)} AS exam",
            [counts.UNDATED, counts.UNDATED])
        rows = cursor.fetchall()
    if rows and rows[0][3] != counts.zone_name():
        return None
    parse = (lambda d: d) if connection.vendor == "postgresql" else (lambda d: date.fromisoformat(d) if d else None)
    return {sid: (parse(first), parse(last)) for sid, first, last, _zone in rows}


def window_text(window: tuple | None) -> str:
    """"02 Sep – 14 Dec 2026" in the dashboard's zone ("" when the exam has no dated appointment)."""
    first, last = window or (None, None)
    if first is None or last is None:
        return ""
    zone = timezones.dashboard_zone()
    if isinstance(first, datetime):  # an instant; the per-day counts give local days already
        first, last = first.astimezone(zone).date(), last.astimezone(zone).date()
    if first == last:
        return last.strftime("%d %b %Y")
    return f"{first.strftime('%d %b' if first.year == last.year else '%d %b %Y')} – {last.strftime('%d %b %Y')}"


class Choice(NamedTuple):
    """A picker entry (what the filter form reads from a course or an exam)."""

    sid: str
    title: str
    course_sid: str = ""
    detail: str = ""  # a course: its code and offering title, one per line; an exam: its window (window_text)


PICKER_CACHE_SECONDS = 300
_UNREAD = object()


def picker_choices(*, user) -> tuple[list[Choice], list[Choice], list[tuple]]:
    """(courses, exams, offerings grouped by course title) for the list's pickers.

    Cached in Redis per sync generation: the key holds the appointment sync's last success time and the user's course
    scope, so a finished sync (which is what changes courses, exams and offerings) starts a new entry. An exam created
    through the exams screens between two syncs appears after the next sync or PICKER_CACHE_SECONDS. Without a
    successful sync yet, or when Redis fails, the three small tables are read directly."""
    return _picker_choices(user=user, key=_picker_key(user=user))


def _picker_key(*, user, generation=_UNREAD) -> str | None:
    """The pickers' cache key (sync generation and course scope), or None before the first successful sync.
    `generation`: the appointment sync's last success time when the caller already read it (None: never)."""
    from proctordash.sync.models import UpstreamState

    if generation is _UNREAD:
        generation = (UpstreamState.objects.filter(upstream="smarterproctoring")
                      .values_list("last_success_at", flat=True).first())
    if generation is None:
        return None
    sids = visible_course_sids(user)
    scope = "all" if sids is ALL else hashlib.sha256("\n".join(sorted(sids)).encode()).hexdigest()[:32]
    return f"appointments:pickers:v2:{scope}:{generation.isoformat()}"


def _picker_choices(*, user, key: str | None) -> tuple[list[Choice], list[Choice], list[tuple]]:
    if key is not None:
        try:
            cached = cache.get(key)
        except Exception:  # Redis down: the database answers, the page does not fail
            cached = None
        if cached is not None:
            return cached
    courses = course_choices(user=user)
    windows = exam_windows(user=user)
    value = (
        [Choice(c.sid, c.title, "", f"{c.code}\n{c.offering_title}") for c in courses],
        [Choice(e.sid, e.title, e.course_sid, window_text(windows.get(e.sid))) for e in exam_choices(user=user)],
        offering_choices(user=user, courses=courses),
    )
    if key is not None:
        try:
            cache.set(key, value, PICKER_CACHE_SECONDS)
        except Exception:
            pass
    return value


_prepared_pickers: dict[str, tuple[float, dict]] = {}  # key → (monotonic expiry, prepared pickers); per process
PREPARED_PICKERS_MAX = 64  # keys (course scopes × generations) a process keeps; emptied when full


def picker_widgets(*, user, generation=_UNREAD) -> dict:
    """The pickers ready to render (forms.prepare_pickers), kept per process under picker_choices' key and expiry:
    the full list page then pays neither the Redis round trip and unpickling of the choices nor escaping hundreds of
    options (~4 ms of CPU per page at 200 exams; docs/benchmarks.md). Same freshness rules as picker_choices.
    `generation` as for _picker_key (the list reads the UpstreamState row once for this and the freshness line)."""
    key = _picker_key(user=user, generation=generation)
    now = time.monotonic()
    if key is not None:
        hit = _prepared_pickers.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
    prepared = prepare_pickers(*_picker_choices(user=user, key=key))
    if key is not None:
        if len(_prepared_pickers) >= PREPARED_PICKERS_MAX:
            _prepared_pickers.clear()
        _prepared_pickers[key] = (now + PICKER_CACHE_SECONDS, prepared)
    return prepared


def saved_view_list(*, user) -> list[SavedView]:
    return list(SavedView.visible_to(user).select_related("owner"))


# --- review queue --------------------------------------------------------------------------------------------------
@dataclass
class ReviewGroup:
    key: str
    label: str
    rows: list = field(default_factory=list)
    total: int = 0


REVIEW_GROUP_LIMIT = 200
# The review queue's rule (docs/architecture.md): an appointment needs review when its review is required and not
# complete (review status "pending") AND the exam session has been taken, which in SmarterProctoring's appointment
# statuses is only "Closed". Needs Proctor and Scheduled have nothing recorded yet, In Progress is still running,
# Cancelled never ran: none of them can be reviewed, so none is in the queue or in its counts.
REVIEWABLE_STATUSES = ("Closed",)
REVIEW_LIST_QUERY = "reviewStatus=pending&status=Closed&when=all&sort=reviewByDate"  # the same rows in the list


def review_needed(*, user) -> QuerySet[Appointment]:
    """Every appointment the user may see that needs a review (REVIEWABLE_STATUSES, review pending)."""
    return appointment_base(user=user).filter(review_status="pending", status__in=REVIEWABLE_STATUSES)


def review_queue(*, user, now: datetime | None = None) -> list[ReviewGroup]:
    """Appointments that need a review, grouped Overdue / due within 24 h / later (incl. no deadline), each by
    review-by date. A group's total counts exactly the rows its query lists (the first REVIEW_GROUP_LIMIT are shown).
    Three bounded queries plus at most three counts, whatever the size of the queue."""
    now = now or timezone.now()
    base = review_needed(user=user).only(*LIST_COLUMNS)
    order = [F("review_by_date").asc(nulls_last=True), "sid"]
    specs = [
        ("overdue", "Overdue", Q(review_by_date__lt=now)),
        ("soon", "Due within 24 h", Q(review_by_date__gte=now, review_by_date__lt=now + DUE_SOON)),
        ("later", "Later", Q(review_by_date__gte=now + DUE_SOON) | Q(review_by_date__isnull=True)),
    ]
    groups = []
    for key, label, condition in specs:
        qs = base.filter(condition)
        rows = list(qs.order_by(*order)[:REVIEW_GROUP_LIMIT])
        total = len(rows) if len(rows) < REVIEW_GROUP_LIMIT else qs.count()
        groups.append(ReviewGroup(key, label, rows, total))
    return groups
