"""The per-day × status counts (appointments/counts.py) and what the list reads from them: exact wherever they are
shown as exact — after the sync inserts, updates and removes rows, for every filter the counts answer, and through
the paging that seeks by day. The truth each test compares with is the old way: counting every matching row."""

from __future__ import annotations

import copy
import csv
import io
import json
import random
import re
import time
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.utils import timezone
from hypothesis import given, settings, strategies as st

from proctordash.appointments import counts, forms, mapping, selectors
from proctordash.appointments.models import Appointment, AppointmentCountsState, AppointmentDayCount
from proctordash.core import timezones
from proctordash.sandbox import data
from tests.appointments.factories import AppointmentFactory
from tests.conftest import COURSE_A

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(scope="module")
def records():
    world = data.generate(seed=11, appointments=500, anchor=time.time())
    return [copy.deepcopy(a.doc) for a in world.appointments]


def write_in_pages(records, size=120):
    for start in range(0, len(records), size):
        mapping.appointments_write(records[start:start + size])


def truth(user, filters: dict) -> tuple[int, dict, list]:
    """Total, per-status counts and per-day rows by counting every matching row (what the list did before)."""
    per_day = selectors.appointment_per_day(selectors.appointment_list(user=user, filters=filters))
    status_counts = selectors.status_counts_from(per_day)
    return sum(status_counts.values()), status_counts, per_day


def overview_matches_rows(user, filters: dict, *, source: str = "counts") -> selectors.Overview:
    overview = selectors.appointment_overview(user=user, filters=filters)
    total, status_counts, per_day = truth(user, filters)
    assert overview.exact, filters
    assert overview.source == source, filters
    assert (overview.total, overview.status_counts) == (total, status_counts), filters
    assert sorted(overview.per_day, key=str) == sorted(per_day, key=str), filters
    return overview


def sample_filters(zone) -> list[dict]:
    """One filter per thing the counts answer, with values present in the table: none, every date, past, each
    picker filter with and without a status, date ranges on local midnights and inside days."""
    live = Appointment.objects.live()
    first = live.exclude(appointment_date=None).order_by("appointment_date", "sid").first()
    row = live.exclude(appointment_date=None).order_by("-appointment_date", "sid")[3]
    day = first.appointment_date.astimezone(zone).date() + timedelta(days=2)
    midnight = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    filters = [{}, {"when": "all"}, {"when": "past"}, {"status": row.status}, {"when": "all", "status": row.status},
               {"when": "all", "courseSid": row.course_sid}, {"when": "all", "examSid": row.exam_sid},
               {"courseOfferingSid": row.course_offering_sid}, {"when": "all", "type": row.session_type},
               {"when": "past", "reviewStatus": row.review_status}, {"examStatus": row.exam_status, "when": "all"},
               {"examSid": row.exam_sid, "status": row.status},
               {"appointmentAfter": midnight, "appointmentBefore": midnight + timedelta(days=9)},
               {"appointmentAfter": midnight + timedelta(hours=7, minutes=13)},
               {"appointmentBefore": midnight + timedelta(days=30, hours=15)},
               {"appointmentAfter": midnight + timedelta(hours=3), "appointmentBefore": midnight + timedelta(hours=20)},
               {"appointmentAfter": midnight + timedelta(hours=3), "appointmentBefore": midnight + timedelta(days=4, hours=1),
                "status": row.status},
               {"appointmentAfter": row.appointment_date, "appointmentBefore": row.appointment_date + timedelta(days=1),
                "courseSid": row.course_sid}]
    return filters


def test_counts_follow_the_sync_through_inserts_updates_and_removals(coordinator, records):
    zone = timezones.dashboard_zone()
    write_in_pages(records)
    assert counts.counts_check() == []
    for filters in sample_filters(zone):
        overview_matches_rows(coordinator, filters)

    # updates: a new status, a date moved to another day, one losing its date, a course changed; and a row the upstream
    # lists twice on one page
    changed = copy.deepcopy(records[:40])
    rnd = random.Random(3)
    for i, record in enumerate(changed):
        record["status"] = rnd.choice(["Scheduled", "Closed", "Cancelled", "In Progress", "Needs Proctor"])
        if i % 3 == 0 and record.get("appointmentDate"):
            moved = datetime.fromisoformat(record["appointmentDate"].replace("Z", "+00:00")) + timedelta(days=rnd.randrange(1, 40), hours=rnd.randrange(24))
            record["appointmentDate"] = moved.astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        if i % 7 == 0:
            record["appointmentDate"] = None
        if i % 5 == 0:
            record["course"] = {**record["course"], "sid": "CU" + "e" * 32}
    mapping.appointments_write(changed + changed[:3])
    assert counts.counts_check() == []

    # removals by a complete pass, then one of them listed again
    seen_before = timezone.now() + timedelta(seconds=1)
    removed = mapping.appointments_mark_removed([r["sid"] for r in records[100:160]], seen_before=seen_before,
                                                now=timezone.now())
    assert removed == 60
    assert counts.counts_check() == []
    back = copy.deepcopy(records[100:103])
    for record in back:
        record["sessionReportCount"] = 99  # a change, so the row is written again
    mapping.appointments_write(back)
    assert counts.counts_check() == []
    for filters in sample_filters(zone):
        overview_matches_rows(coordinator, filters)
    assert AppointmentDayCount.objects.filter(n__lte=0).count() == 0  # emptied counts are deleted


def test_an_instructor_counts_their_courses_only(client_for, coordinator, instructor_a, records):
    moved = copy.deepcopy(records)  # the first 200 move into the instructor's course
    for record in moved[:200]:
        record["course"] = {**record["course"], "sid": COURSE_A}
    write_in_pages(moved)
    overview = overview_matches_rows(instructor_a, {"when": "all"})
    assert overview.total == Appointment.objects.live().filter(course_sid=COURSE_A).count() > 0
    overview_matches_rows(instructor_a, {"status": "Scheduled"})
    overview_matches_rows(instructor_a, {"courseSid": COURSE_A, "when": "past"})
    nothing = selectors.appointment_overview(user=instructor_a, filters={"courseSid": "CU" + "f" * 32})
    assert (nothing.total, nothing.exact) == (0, True)
    # two picker filters for them (their courses + an exam): counted from the rows
    exam = Appointment.objects.filter(course_sid=COURSE_A).values_list("exam_sid", flat=True).first()
    overview_matches_rows(instructor_a, {"examSid": exam, "when": "all"}, source="rows")


def test_filters_the_counts_cannot_answer_are_counted_from_rows_up_to_a_bound(client_for, coordinator, records,
                                                                            monkeypatch):
    write_in_pages(records)
    row = Appointment.objects.live().exclude(appointment_date=None).first()
    for filters in [{"when": "all", "type": row.session_type, "examStatus": row.exam_status},
                    {"when": "all", "learnerLastName": row.learner_last_name[:3]},
                    {"q": row.course_title.split()[0]}]:
        overview_matches_rows(coordinator, filters, source="rows")
    monkeypatch.setattr(selectors, "COUNT_BOUND", 5)
    overview = selectors.appointment_overview(user=coordinator, filters={"when": "all", "q": "e"})
    assert (overview.exact, overview.total, overview.display) == (False, 5, "5+")
    html = client_for(coordinator).get("/appointments/?when=all&q=e", **HTMX).content.decode()
    assert "<strong>5+</strong> appointments" in html
    assert "More than 5 appointments match this filter" in html
    assert re.search(r"Page 1\s*</span>", html) and "Last »" not in html and "Next ›" in html
    page2 = client_for(coordinator).get("/appointments/?when=all&q=e&page=2", **HTMX).content.decode()
    assert "showing 51–100" in page2


def test_a_zone_change_falls_back_to_rows_until_the_counts_are_rebuilt(coordinator, records, settings):
    write_in_pages(records)
    settings.DASHBOARD_TIME_ZONE = "Asia/Kathmandu"  # +05:45: days cut at a quarter hour
    overview_matches_rows(coordinator, {"when": "all", "status": "Closed"}, source="rows")
    changed = copy.deepcopy(records[:5])
    for record in changed:
        record["sessionReportCount"] = 42
    mapping.appointments_write(changed)  # the next page the sync writes rebuilds them in the new zone
    assert AppointmentCountsState.objects.get().zone == "Asia/Kathmandu"
    assert counts.counts_check() == []
    for filters in sample_filters(timezones.dashboard_zone()):
        overview_matches_rows(coordinator, filters)


def test_days_across_daylight_saving_changes_agree_with_the_database(coordinator, settings):
    """Python's local day (the writers) and the database's (the cut days, the row counts) agree on both sides of
    America/Chicago's 2026 changes and at midnight."""
    settings.DASHBOARD_TIME_ZONE = "America/Chicago"
    counts.counts_rebuild()
    zone = timezones.dashboard_zone()
    instants = []
    for local in ["2026-03-07 23:59", "2026-03-08 00:00", "2026-03-08 01:59", "2026-03-08 03:00", "2026-03-08 23:30",
                  "2026-10-31 23:59", "2026-11-01 00:00", "2026-11-01 01:30", "2026-11-01 23:59", "2026-11-02 00:00"]:
        instants.append(datetime.fromisoformat(local).replace(tzinfo=zone))
    instants.append(datetime(2026, 11, 1, 6, 30, tzinfo=dt_timezone.utc))  # 01:30 CDT → the repeated hour
    instants.append(datetime(2026, 11, 1, 7, 30, tzinfo=dt_timezone.utc))  # 01:30 CST
    for i, instant in enumerate(instants):
        AppointmentFactory(appointment_date=instant, status=["Scheduled", "Closed"][i % 2])
    assert counts.counts_check() == []
    overview_matches_rows(coordinator, {"when": "all"})
    start = datetime(2026, 3, 8, tzinfo=zone)
    overview_matches_rows(coordinator, {"appointmentAfter": start, "appointmentBefore": start + timedelta(hours=2)})
    overview_matches_rows(coordinator, {"appointmentAfter": datetime(2026, 11, 1, 1, 0, tzinfo=zone),
                                        "appointmentBefore": datetime(2026, 11, 2, tzinfo=zone)})


def test_saves_and_deletes_of_single_rows_keep_the_counts(coordinator):
    a = AppointmentFactory(status="Scheduled")
    b = AppointmentFactory(status="Closed", appointment_date=None)
    assert counts.counts_check() == []
    a.status, a.appointment_date = "Cancelled", a.appointment_date + timedelta(days=3)
    a.save()
    b.removed_at = timezone.now()
    b.save()
    assert counts.counts_check() == []
    a.delete()
    assert counts.counts_check() == []
    assert not AppointmentDayCount.objects.exists()


def test_rebuild_equals_what_the_writers_kept(records):
    write_in_pages(records)
    kept = sorted(AppointmentDayCount.objects.values_list("dim", "value", "day", "status", "n"))
    assert counts.counts_rebuild() == len(kept)
    assert sorted(AppointmentDayCount.objects.values_list("dim", "value", "day", "status", "n")) == kept


# --- paging --------------------------------------------------------------------------------------------------------
def all_sids(user, filters):
    return list(selectors.appointment_list(user=user, filters=filters).values_list("sid", flat=True))


@pytest.mark.parametrize("filters", [{"when": "all"}, {"when": "all", "sort": "-appointmentDate"}, {},
                                     {"when": "past"}, {"when": "all", "status": "Scheduled"},
                                     {"when": "all", "sort": "-learner"}, {"when": "all", "sort": "reviewByDate"},
                                     {"when": "all", "sort": "-reviewByDate"}, {"when": "all", "q": "e"},
                                     {"q": "a", "sort": "-appointmentDate"}, {"when": "all", "q": "e", "sort": "reviewByDate"},
                                     {"when": "all", "q": "e", "sort": "-reviewByDate"}, {"q": "a", "sort": "-learner"},
                                     {"when": "all", "learnerLastName": "e", "sort": "sessionReportCount"},
                                     {"when": "all", "examStatus": "active", "reviewStatus": "pending", "sort": "-status"}])
def test_every_page_is_the_slice_of_the_whole_order(coordinator, records, filters, monkeypatch):
    """Pages read by day seeks, from the dated and undated rows apart, or backwards from the end, are exactly the
    slices of the full order — also when the total is only known as "N+"."""
    write_in_pages(records)
    expected = all_sids(coordinator, filters)
    assert len(expected) > 60
    for bound in (selectors.COUNT_BOUND, 25):  # exact totals; then bounded ones (the text filters go over 25)
        monkeypatch.setattr(selectors, "COUNT_BOUND", bound)
        overview = selectors.appointment_overview(user=coordinator, filters=filters)
        for per_page in (7, 25):
            pages = []
            for page in range(1, len(expected) // per_page + 2):
                rows, more = selectors.appointment_page(user=coordinator, filters=filters, overview=overview,
                                                        page=page, per_page=per_page)
                pages.append([r.sid for r in rows])
                assert more == (page * per_page < len(expected)), (filters, bound, per_page, page)
            assert [sid for page in pages for sid in page] == expected, (filters, bound, per_page)
        # the page ranked in the same read as the counts (what the list asks for a text filter whose sample holds
        # few matches; here every text filter): the same slices, the same totals
        monkeypatch.setattr(selectors, "SAMPLE_FEW", 10 ** 9)
        pages, last = [], -(-len(expected) // 25)
        past_the_end = selectors.appointment_overview(user=coordinator, filters=filters, page=last + 3, per_page=25)
        assert past_the_end.page_ids is None or past_the_end.page_ids[:2] == (last, 25)
        for page in range(1, last + 1):
            with_page = selectors.appointment_overview(user=coordinator, filters=filters, page=page, per_page=25)
            assert (with_page.total, with_page.exact, with_page.status_counts) == (
                overview.total, overview.exact, overview.status_counts), (filters, bound, page)
            assert with_page.page_ids is None or with_page.page_ids[:2] == (page, 25)
            assert (with_page.page_ids is not None) == (selectors._has_text(filters) and with_page.exact)
            rows, more = selectors.appointment_page(user=coordinator, filters=filters, overview=with_page, page=page,
                                                    per_page=25)
            pages.append([r.sid for r in rows])
            assert more == (page * 25 < len(expected)), (filters, bound, page)
        assert [sid for page in pages for sid in page] == expected, (filters, bound)


def test_a_page_spanning_dated_and_undated_rows_is_one_query(client_for, coordinator, records,
                                                            django_assert_num_queries):
    write_in_pages(records)
    client = client_for(coordinator)
    dated = Appointment.objects.live().exclude(appointment_date=None).count()
    undated = Appointment.objects.live().filter(appointment_date=None).count()
    assert undated > 3
    page = dated // 25 + 1  # the last dated rows, then the first undated ones
    client.get("/appointments/?when=all", **HTMX)
    with django_assert_num_queries(5):
        response = client.get(f"/appointments/?when=all&per_page=25&page={page}", **HTMX)
    shown = re.findall(r'href="/appointments/([A-Z]{2}[0-9a-f]{32})/"', response.content.decode())
    assert shown == all_sids(coordinator, {"when": "all"})[(page - 1) * 25:page * 25]


@pytest.mark.parametrize("query", ["q=e&per_page=25&page=2", "learnerLastName=e&sort=-learner&page=2&per_page=25",
                                   "q=a&page=999&per_page=25"])
def test_a_text_filtered_page_finds_its_matches_once(client_for, coordinator, records, query, monkeypatch):
    """The counts and the page's rows of a text filter with few matches come from one read of the matches: a single
    statement applies the text filter (besides PostgreSQL's fixed-size sample), and the page is the slice of the
    whole order — also a page past the end, which shows the last page."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr(selectors, "SAMPLE_FEW", 10 ** 9)  # 500 rows: every match count is "few" here
    write_in_pages(records)
    client = client_for(coordinator)
    filters = dict(pair.split("=") for pair in query.split("&"))
    page, per_page = int(filters.pop("page")), int(filters.pop("per_page"))
    expected = all_sids(coordinator, {**filters, "when": "all"})
    assert 60 < len(expected) <= selectors.COUNT_BOUND
    last_page = -(-len(expected) // per_page)
    page = min(page, last_page)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/appointments/?when=all&{query}", **HTMX)
    assert response.status_code == 200
    filtering = [q["sql"] for q in queries.captured_queries
                 if " LIKE " in q["sql"] and "TABLESAMPLE" not in q["sql"] and "appointments_appointment" in q["sql"]]
    assert len(filtering) == 1, filtering
    shown = re.findall(r'href="/appointments/([A-Z]{2}[0-9a-f]{32})/"', response.content.decode())
    assert shown == expected[(page - 1) * per_page:page * per_page]


def test_a_text_filter_with_many_sampled_matches_finds_its_page_by_walking_the_order(coordinator, records,
                                                                                    monkeypatch):
    """PostgreSQL: a sample with SAMPLE_FEW matches or more means thousands of matches at scale; ranking them all
    would cost more than walking the list's order to the page's rows, so the overview keeps no page ids."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the sample is PostgreSQL's (TABLESAMPLE)")
    write_in_pages(records)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE appointments_appointment")
    filters = {"q": "e", "when": "all"}
    sample = selectors._text_sample(selectors.appointment_list(user=coordinator, filters=filters))
    assert sample.matches is not None and not sample.over_bound
    for few, ranked in ((sample.matches, False), (sample.matches + 1, True)):
        monkeypatch.setattr(selectors, "SAMPLE_FEW", few)
        overview = selectors.appointment_overview(user=coordinator, filters=filters, page=1, per_page=25)
        assert (overview.page_ids is not None) == ranked and overview.exact


def test_the_command_checks_and_rebuilds(records):
    from django.core.management import CommandError, call_command

    write_in_pages(records[:80])
    call_command("appointment_counts", "--check")
    # a change behind the counts' back (QuerySet.update() does not keep them): found, then repaired
    Appointment.objects.filter(sid__in=[r["sid"] for r in records[:10]]).update(status="Unheard of")
    with pytest.raises(CommandError, match="counts differ from the rows"):
        call_command("appointment_counts", "--check")
    call_command("appointment_counts", "--rebuild", "--check")
    assert counts.counts_check() == []


# --- the text filters' index paths ---------------------------------------------------------------------------------
TRICKY = "aAbΣσςİiKkLl\u212a\u0130ß \t\u00a0'.-@"
tricky_text = st.text(alphabet=TRICKY, max_size=12)


@given(first=tricky_text, last=tricky_text, email=tricky_text, course=tricky_text, exam=tricky_text,
       data=st.data())
@settings(max_examples=400, deadline=None)
def test_a_text_filter_match_is_a_match_in_the_search_text(first, last, email, course, exam, data):
    """What lets the learner name, e-mail, course and exam title filters go through the trigram index on
    search_text: wherever the filter matches its own column, the same value is in search_text (for the values the
    filter sends that way: no edge spaces, no sigma)."""
    raw = {"sid": "ES" + "1" * 32, "enrollment": {"firstName": first, "lastName": last, "email": email},
           "course": {"sid": "CU" + "1" * 32, "title": course}, "exam": {"sid": "EX" + "1" * 32, "title": exam}}
    row = mapping.appointment_row(raw, now=timezone.now())
    for name in sorted(selectors.SEARCH_TEXT_FILTERS):
        column = forms.TEXT_FILTERS[name]
        if not row[column]:
            continue
        start = data.draw(st.integers(0, len(row[column]) - 1))
        end = data.draw(st.integers(start + 1, len(row[column])))
        value = row[column][start:end].lower()
        if value in row[column] and value == value.strip() and not selectors.SIGMA & set(value):
            assert value in row["search_text"], (name, value, row[column], row["search_text"])


def test_a_whole_learner_sid_is_only_contained_in_itself():
    """learnerSid given a whole SID is read as `= value`: no character other than the SID's own lowercases into a
    SID's alphabet, so a 34-character column (learner_sid's length) holds it only by being it."""
    import sys

    alphabet = set("0123456789abcdefus")
    assert not [c for c in map(chr, range(sys.maxunicode + 1)) if not c.isascii() and alphabet & set(c.lower())]


def test_text_filters_through_the_index_paths_match_the_upstream_semantics(coordinator):
    """Rows whose names and titles need care (edge spaces, sigma, dotted I, Kelvin sign, a whole SID in several
    cases): the filters find exactly the rows where `value.lower() in field.lower()`."""
    cases = [("  Ada ", "ΟΔΥΣΣΕΥΣ", "Σοφία"), ("İsmail", "KELVIN\u212a", "x"), ("ς", "Σ", "aΣ b"), ("Ada", "", " ")]
    for i, (first, last, title) in enumerate(cases):
        AppointmentFactory(learner_first_name=first, learner_last_name=last, course_title=title,
                           learner_sid=("US" + f"{i:032x}").upper() if i == 1 else "US" + f"{i:032x}")
    rows = list(Appointment.objects.all())
    for name, value in [("learnerFirstName", "ada"), ("learnerFirstName", "ada "), ("learnerLastName", "σσ"),
                        ("learnerLastName", "ς"), ("learnerLastName", "σ"), ("learnerLastName", "k"),
                        ("learnerFirstName", "i̇"), ("learnerFirstName", "İ"), ("courseTitle", "a"),
                        ("courseTitle", "σ b"), ("learnerSid", "US" + f"{1:032x}"), ("learnerSid", "us" + f"{2:032x}"),
                        ("learnerSid", "0001"), ("learnerLastName", "ΣΣΕ")]:
        column = forms.TEXT_FILTERS[name]
        expected = sorted(r.sid for r in rows if value.lower() in getattr(r, column.removesuffix("_search")).lower())
        got = sorted(a.sid for a in selectors.appointment_list(user=coordinator, filters={name: value, "when": "all"}))
        assert got == expected, (name, value)



def test_a_text_filter_sample_is_planned_for_its_size(coordinator, records, monkeypatch):
    """PostgreSQL: after a process's first sample the percentage is written as a number, so the planner plans for
    the sampled rows (not for 10 % of the table, which at 1,000,000 appointments woke JIT: ~10 ms per page); the
    answer is the same either way."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("TABLESAMPLE and the planner's estimates are PostgreSQL's")
    write_in_pages(records)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE appointments_appointment")
    monkeypatch.setattr(selectors, "_table_rows", {})
    monkeypatch.setattr(selectors, "SAMPLE_ROWS", 100)  # a fifth of the 500 rows
    monkeypatch.setattr(selectors, "COUNT_BOUND", 25)
    qs = selectors.appointment_list(user=coordinator, filters={"q": "a", "when": "all"})
    answers, statements = [], []
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            answers.append(selectors._text_sample(qs).over_bound)
        assert len(queries) == 1
        statements.append(queries[0]["sql"])
    assert answers == [True, True]
    assert "TABLESAMPLE SYSTEM ((SELECT least(" in statements[0]
    assert "TABLESAMPLE SYSTEM (20.000000)" in statements[1]

    def sample_rows(sql: str) -> list[float]:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
            plan = cursor.fetchone()[0]
        found = []

        def walk(node):
            if node.get("Node Type") == "Sample Scan":
                found.append(node["Plan Rows"])
            for child in node.get("Plans", []):
                walk(child)
        walk((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"])
        return found

    assert set(sample_rows(statements[0])) == {50}  # 10 % of 500: the planner's guess for a percentage it cannot see
    assert set(sample_rows(statements[1])) == {100}  # 20 % of 500: what is sampled


def test_search_text_has_a_finer_statistics_sample():
    """PostgreSQL: migration 0011's 1,000 histogram entries for search_text (a rare surname estimated at 1 % of the
    table made the planner AND a whole date range into every text-filtered query; docs/benchmarks.md)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL column setting")
    with connection.cursor() as cursor:
        cursor.execute("SELECT attstattarget FROM pg_attribute WHERE attrelid = 'appointments_appointment'::regclass "
                       "AND attname = 'search_text'")
        assert cursor.fetchone()[0] == 1000

# --- the export ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("query", ["", "when=all", "when=past", "when=all&sort=-appointmentDate", "when=all&sort=exam",
                                   "q=a"])
def test_the_export_lists_what_the_list_lists_in_its_order(client_for, coordinator, records, query, monkeypatch):
    """Dated rows in index order then the undated ones (no sort before the first row), in chunks of text."""
    from proctordash.appointments import export, forms as filter_forms

    monkeypatch.setattr(export, "CHUNK_BYTES", 2000)  # several chunks from a few hundred rows
    write_in_pages(records)
    response = client_for(coordinator).get(f"/appointments/export.csv?{query}")
    chunks = [chunk.decode("utf-8") for chunk in response.streaming_content]
    assert len(chunks) > 3
    rows = list(csv.reader(io.StringIO("".join(chunks).lstrip("\ufeff"))))
    form = filter_forms.AppointmentFilterForm(dict(pair.split("=") for pair in query.split("&") if pair))
    assert form.is_valid()
    assert [row[0] for row in rows[1:]] == all_sids(coordinator, form.cleaned_data)


def test_exam_windows_from_the_counts_read_as_from_the_rows(coordinator, records):
    from django.db.models import Max, Min

    write_in_pages(records)
    rows = (Appointment.objects.live().exclude(exam_sid="").order_by().values_list("exam_sid")
            .annotate(first=Min("appointment_date"), last=Max("appointment_date")))
    expected = {sid: selectors.window_text((first, last)) for sid, first, last in rows}
    windows = selectors.exam_windows(user=coordinator)
    assert {sid: selectors.window_text(windows.get(sid)) for sid in expected} == expected
    assert any(expected.values())


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00Z", "0001-01-01T03:00:00+05:00", "9999-12-31T23:59:59Z",
                                  "9999-12-31T20:00:00-10:00"])
def test_a_date_at_the_calendars_end_is_undated_and_sinks_nothing(records, when):
    """One record dated where no local day exists (Python's calendar ends at years 1 and 9999) is written as undated,
    with the rest of its page; its raw JSON keeps the date as the upstream sent it."""
    page = [copy.deepcopy(r) for r in records[:5]]
    page[2]["appointmentDate"] = when
    mapping.appointments_write(page)
    odd = Appointment.objects.get(sid=page[2]["sid"])
    assert odd.appointment_date is None and odd.raw["appointmentDate"] == when
    assert Appointment.objects.filter(sid__in=[r["sid"] for r in page]).count() == 5
    assert AppointmentDayCount.objects.filter(day=counts.UNDATED).exists()
