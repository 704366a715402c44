"""Per-day × status counts of the live appointments, kept exact by whoever writes appointment rows.

The appointment list shows, for its filter, a total, a count per status and a chart per day and status. Counting
the matching rows for every page grows with the rows (15 of 17 ms of the list's SQL at 100,000 appointments); reading
these counts grows only with the days shown. `AppointmentDayCount` holds one row per (dimension, value, local day,
status): dimension "all" (every live appointment) and one per filter the list offers as a picker (`DIMENSIONS`).
So the unfiltered list, the status filter and any ONE of those filters (with or without a status and a date range)
are answered from here; anything else (two picker filters, a text filter, the search box) is counted row by row up to
a bound (selectors.appointment_overview).

Who keeps them exact: every writer of `Appointment` rows, inside its own transaction and under `counts_lock()` (the
state row, locked FOR UPDATE on PostgreSQL, so writers apply their changes one at a time):
- the sync's mapping (appointments/mapping.py): each page it upserts, and rows it marks removed;
- `Model.save()`/`delete()` of single rows (signals registered in apps.py: tests, the shell);
- `counts_rebuild()`: from the rows, in one transaction: after `migrate` (`post_migrate`, which fills migration 0007's
  tables) when the counts are missing or in another zone, `manage.py appointment_counts --rebuild`, and a writer that
  finds them in another zone.
`QuerySet.update()` and raw SQL on the table bypass this: run `appointment_counts --rebuild` after such a repair.

Days are local days in DASHBOARD_TIME_ZONE; `AppointmentCountsState.zone` records which zone the counts are in, and
the list trusts them only while that is the dashboard's zone. Appointments without a date are counted on UNDATED.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from django.db import connection, transaction
from django.utils import timezone

from proctordash.appointments.models import Appointment, AppointmentCountsState, AppointmentDayCount
from proctordash.core import timezones

log = logging.getLogger(__name__)

UNDATED = date(1, 1, 1)  # the `day` of appointments without a date
ALL = "all"
DIMENSIONS = {  # dimension → the Appointment column it counts by
    "course": "course_sid",
    "exam": "exam_sid",
    "offering": "course_offering_sid",
    "type": "session_type",
    "review": "review_status",
    "exam_status": "exam_status",
}
FILTER_DIMENSIONS = {  # the list's query names answered by a dimension
    "courseSid": "course", "examSid": "exam", "courseOfferingSid": "offering", "type": "type",
    "reviewStatus": "review", "examStatus": "exam_status",
}
# what a row contributes to the counts: (appointment_date, status, removed_at, *dimension columns)
KEY_COLUMNS = ["appointment_date", "status", "removed_at", *DIMENSIONS.values()]
_DIMENSION_NAMES = list(DIMENSIONS)


def zone_name() -> str:
    return str(timezones.dashboard_zone().key)


def local_day(value: datetime | None, zone) -> date:
    """The local day an appointment is counted on (UNDATED without a date), as TruncDate computes it in SQL."""
    if value is None:
        return UNDATED
    return value.astimezone(zone).date()


def day_start(day: date, zone) -> datetime:
    """The first instant of a local day (as forms.start_of_today: midnight, or the end of a DST gap at midnight)."""
    return datetime.combine(day, time(), tzinfo=zone)


def keys_of(row: Iterable, zone) -> list[tuple[str, str, date, str]]:
    """The counts a row (values in KEY_COLUMNS order) contributes 1 to; none when it is removed."""
    appointment_date, status, removed_at, *values = row
    if removed_at is not None:
        return []
    day = local_day(appointment_date, zone)
    status = status or ""
    return [(ALL, "", day, status)] + [(dim, value or "", day, status) for dim, value in zip(_DIMENSION_NAMES, values)]


def key_row(row: dict) -> tuple:
    """KEY_COLUMNS values of a row dict (as mapping.appointment_row builds them)."""
    return tuple(row[column] for column in KEY_COLUMNS)


def delta(before: Iterable[tuple], after: Iterable[tuple], zone) -> Counter:
    """Change of each count when rows go from `before` to `after` (KEY_COLUMNS tuples; either may be empty)."""
    change: Counter = Counter()
    for row in before:
        for key in keys_of(row, zone):
            change[key] -= 1
    for row in after:
        for key in keys_of(row, zone):
            change[key] += 1
    return change


# --- writing ------------------------------------------------------------------------------------------------------
def counts_lock() -> bool:
    """Inside the writer's transaction, before it reads what it will change: lock the counts (PostgreSQL: the state
    row FOR UPDATE, held to the end of the transaction; SQLite serialises writers itself). True when the counts are
    in the dashboard's zone (apply deltas), False when they must be rebuilt instead (missing, or another zone)."""
    if not connection.in_atomic_block:
        raise RuntimeError("counts_lock() must run inside the transaction that writes the rows")
    zone = AppointmentCountsState.objects.select_for_update().filter(pk=1).values_list("zone", flat=True).first()
    return zone == zone_name()


def stored_keys(sids: list[str]) -> list[tuple]:
    """KEY_COLUMNS of the stored rows among `sids` (what they count for before a write)."""
    out: list[tuple] = []
    for start in range(0, len(sids), 500):
        out.extend(Appointment.objects.filter(sid__in=sids[start:start + 500]).values_list(*KEY_COLUMNS))
    return out


def counts_apply(before: Iterable[tuple], after: Iterable[tuple]) -> None:
    """Apply the change from `before` to `after` rows (KEY_COLUMNS tuples) after counts_lock() returned True."""
    change = {key: n for key, n in delta(before, after, timezones.dashboard_zone()).items() if n}
    if not change:
        return
    keys = sorted(change)  # one order for every writer
    table = connection.ops.quote_name(AppointmentDayCount._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            columns = list(zip(*keys))
            cursor.execute(
                f"INSERT INTO {table} AS c (dim, value, day, status, n) "
                "SELECT * FROM unnest(%s::varchar[], %s::varchar[], %s::date[], %s::varchar[], %s::int[]) "
                "ON CONFLICT (dim, value, day, status) DO UPDATE SET n = c.n + EXCLUDED.n",
                [list(columns[0]), list(columns[1]), list(columns[2]), list(columns[3]), [change[k] for k in keys]])
            gone = [k for k in keys if change[k] < 0]
            if gone:
                columns = list(zip(*gone))
                cursor.execute(
                    f"DELETE FROM {table} AS c USING unnest(%s::varchar[], %s::varchar[], %s::date[], %s::varchar[]) "
                    "AS k(dim, value, day, status) WHERE c.dim = k.dim AND c.value = k.value AND c.day = k.day "
                    "AND c.status = k.status AND c.n = 0", [list(column) for column in columns])
        else:
            cursor.executemany(
                f"INSERT INTO {table} (dim, value, day, status, n) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (dim, value, day, status) DO UPDATE SET n = n + excluded.n",
                [(*key[:2], key[2].isoformat(), key[3], change[key]) for key in keys])
            cursor.executemany(
                f"DELETE FROM {table} WHERE dim = %s AND value = %s AND day = %s AND status = %s AND n = 0",
                [(*key[:2], key[2].isoformat(), key[3]) for key in keys if change[key] < 0])


def counts_write(before: Iterable[tuple], after: Iterable[tuple], *, exact: bool) -> None:
    """After the rows were written (same transaction): apply the change, or rebuild when counts_lock() said the
    counts are not in the dashboard's zone."""
    if exact:
        counts_apply(before, after)
    else:
        counts_rebuild()


def counts_rebuild() -> int:
    """Recount everything from the live rows, in one transaction (inside the caller's, if any): one read of the
    rows, the days computed by the same local_day() as the writers, the counts written in key order (so that the
    counts of one filter value lie together on disk). Returns the number of count rows. Readers keep seeing the
    previous counts until it commits; writers wait for it (counts_lock). ~15 s at 1,000,000 appointments."""
    zone = timezones.dashboard_zone()
    with transaction.atomic():
        AppointmentCountsState.objects.get_or_create(pk=1, defaults={"zone": "", "rebuilt_at": timezone.now()})
        counts_lock()
        tally: Counter = Counter()
        table = connection.ops.quote_name(AppointmentDayCount._meta.db_table)
        with connection.cursor() as cursor:
            for row in _live_key_rows(cursor):
                for key in keys_of(row, zone):
                    tally[key] += 1
            cursor.execute(f"DELETE FROM {table}")
            ordered = [(*key, tally[key]) for key in sorted(tally)]
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {table} (dim, value, day, status, n) FROM STDIN") as copy:
                    for values in ordered:
                        copy.write_row(values)
            else:
                cursor.executemany(f"INSERT INTO {table} (dim, value, day, status, n) VALUES (%s, %s, %s, %s, %s)",
                                   [(dim, value, day.isoformat(), status, n) for dim, value, day, status, n in ordered])
        AppointmentCountsState.objects.filter(pk=1).update(zone=str(zone.key), rebuilt_at=timezone.now())
        return len(ordered)


def _live_key_rows(cursor) -> Iterable[tuple]:
    """KEY_COLUMNS of every live row, streamed (PostgreSQL: a server-side cursor read with the driver's own types,
    ~2× faster than the ORM's iterator at 1,000,000 rows; elsewhere the ORM's iterator, which converts SQLite's
    text dates)."""
    if connection.vendor != "postgresql":
        yield from Appointment.objects.live().order_by().values_list(*KEY_COLUMNS).iterator(chunk_size=10_000)
        return
    table = connection.ops.quote_name(Appointment._meta.db_table)
    with cursor.cursor.connection.cursor(name="appointment_counts_rebuild") as rows:
        rows.itersize = 10_000
        rows.execute(f"SELECT {', '.join(KEY_COLUMNS)} FROM {table} WHERE removed_at IS NULL")
        yield from rows


def counts_ready() -> bool:
    """The counts exist and are in the dashboard's zone (what the list checks with every read)."""
    return AppointmentCountsState.objects.filter(pk=1, zone=zone_name()).exists()


def counts_ensure() -> bool:
    """Rebuild the counts when they are missing or in another zone (post_migrate). True if it rebuilt."""
    if counts_ready():
        return False
    counts_rebuild()
    return True


def counts_check() -> list[str]:
    """Differences between the stored counts and a recount from the rows ([] when exact); for the command."""
    zone = timezones.dashboard_zone()
    stored = {(c.dim, c.value, c.day, c.status): c.n for c in AppointmentDayCount.objects.all()}
    fresh: Counter = Counter()
    for row in Appointment.objects.live().values_list(*KEY_COLUMNS).iterator(chunk_size=5000):
        for key in keys_of(row, zone):
            fresh[key] += 1
    problems = []
    for key in sorted(set(stored) | set(fresh)):
        if stored.get(key, 0) != fresh.get(key, 0):
            problems.append(f"{key[0]}={key[1]!r} {key[2]} {key[3]!r}: stored {stored.get(key, 0)}, "
                            f"rows {fresh.get(key, 0)}")
    if not counts_ready():
        problems.insert(0, f"the counts are not in the dashboard's zone {zone_name()}")
    return problems


# --- reading (the list) ---------------------------------------------------------------------------------------------
def next_day(day: date) -> date:
    return day + timedelta(days=1)
