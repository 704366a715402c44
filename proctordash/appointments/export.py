"""The CSV export: every appointment the current filter matches, streamed row by row in constant memory.

Spreadsheet-safe: upstream text is untrusted, so a cell that a spreadsheet would read as a formula (starting with
=, +, -, @, or a tab / carriage return that some spreadsheets strip first) gets a leading apostrophe. UTF-8 with a
BOM so Excel detects the encoding; dates in the dashboard's time zone with its abbreviation.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.db.models import QuerySet

from proctordash.core import timezones

CHUNK_SIZE = 2000
BOM = "\ufeff"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

COLUMNS = [  # (header, column)
    ("Appointment SID", "sid"),
    ("Appointment date", "appointment_date"),
    ("Learner first name", "learner_first_name"),
    ("Learner last name", "learner_last_name"),
    ("Learner e-mail", "learner_email"),
    ("Learner SID", "learner_sid"),
    ("Course", "course_title"),
    ("Course SID", "course_sid"),
    ("Exam", "exam_title"),
    ("Exam SID", "exam_sid"),
    ("Type", "session_type"),
    ("Status", "status"),
    ("Review status", "review_status"),
    ("Review by", "review_by_date"),
    ("Session reports", "session_report_count"),
]


def neutralise(value: str) -> str:
    """Make a cell inert for spreadsheets (OWASP "CSV injection")."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


class _Echo:
    """csv.writer needs a file; this one hands each written line straight back."""

    def write(self, value: str) -> str:
        return value


def _cell(value, zone) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        local = value.astimezone(zone)
        return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"
    if isinstance(value, int):
        return str(value)
    return neutralise(str(value))


def csv_rows(qs: QuerySet) -> Iterator[str]:
    """Yield the CSV text (BOM and header first) for a queryset of appointments, one encoded line at a time."""
    zone = timezones.dashboard_zone()
    writer = csv.writer(_Echo())
    yield BOM + writer.writerow([header for header, _ in COLUMNS])
    fields = [column for _, column in COLUMNS]
    rows: Iterable = qs.values_list(*fields).iterator(chunk_size=CHUNK_SIZE)
    for row in rows:
        yield writer.writerow([_cell(value, zone) for value in row])
