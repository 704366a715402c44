"""For every filter, the cached list holds exactly the records the upstream report returns for the same query string.

The cache is filled from the sandbox with `sync_upstream appointments`; then each query string goes, unchanged, to the
sandbox's report (plain HTTP, every page) and to our export (every matching row, in the list's default order), and
the two SID lists must be equal, in order. The sandbox's clock moves appointments along in real time, so when the
upstream changed while a round ran, the round is repeated after a fresh sync (at most three times)."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from urllib.parse import urlencode

import pytest
import requests
from django.conf import settings
from django.core.management import call_command

from proctordash.appointments.models import Appointment
from proctordash.core import vocabulary
from proctordash.core.timezones import to_utc_z

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def upstream_sids(query: dict) -> list[str]:
    url = (f"{settings.SMARTERPROCTORING_BASE_URL}/v1/installs/{settings.SMARTERPROCTORING_INSTALL_SID}"
           "/reports/appointments")
    sids, offset = [], 0
    while True:
        response = requests.get(url, params={**query, "offset": offset, "limit": 1000},
                                headers={"token": settings.SMARTERPROCTORING_TOKEN}, timeout=30)
        assert response.status_code == 200, (query, response.status_code, response.text[:300])
        body = response.json()
        sids += [r["sid"] for r in body["results"]]
        if not body.get("next"):
            return sids
        offset += len(body["results"])


def cached_sids(client, query: dict) -> list[str]:
    # when=all: the report has no date default; the list's own (from today on) is not an upstream filter
    response = client.get("/appointments/export.csv?" + urlencode({**query, "when": "all"}))
    assert response.status_code == 200, (query, response.content[:300])
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    return [row[0] for row in rows[1:]]


def queries() -> list[dict]:
    """Every filter, with values taken from the cache (so most match something), in several cases and spellings."""
    live = Appointment.objects.live()
    first = live.exclude(learner_first_name="").order_by("sid").first()
    dated = list(live.exclude(appointment_date=None).order_by("appointment_date", "sid"))
    middle = dated[len(dated) // 2].appointment_date
    out: list[dict] = [{}]
    for value in live.exclude(course_sid="").values_list("course_sid", flat=True).distinct()[:3]:
        out.append({"courseSid": value})
    for value in live.exclude(exam_sid="").values_list("exam_sid", flat=True).distinct()[:3]:
        out.append({"examSid": value})
    for value in live.exclude(course_offering_sid="").values_list("course_offering_sid", flat=True).distinct()[:3]:
        out.append({"courseOfferingSid": value})
    out += [{"type": v} for v in vocabulary.APPOINTMENT_TYPES]
    out += [{"status": v} for v in vocabulary.APPOINTMENT_STATUSES]
    out += [{"reviewStatus": v} for v in vocabulary.REVIEW_STATUSES]
    out += [{"examStatus": v} for v in vocabulary.EXAM_STATUSES]
    out += [
        {"appointmentAfter": to_utc_z(middle)},  # inclusive: the record at exactly this instant is in
        {"appointmentBefore": to_utc_z(middle)},  # exclusive: and out here
        {"appointmentAfter": to_utc_z(middle - timedelta(days=2)), "appointmentBefore": to_utc_z(middle + timedelta(days=2))},
        {"appointmentAfter": "1970-01-01T00:00:00.000Z"},  # null dates never match
        {"learnerFirstName": first.learner_first_name[:3].upper()},
        {"learnerLastName": first.learner_last_name[-3:].lower()},
        {"learnerEmail": first.learner_email.split("@")[-1].upper()},
        {"learnerEmail": "@"},
        {"learnerSid": first.learner_sid[5:12].upper()},
        {"courseTitle": first.course_title[:4].lower()},
        {"examTitle": first.exam_title[-4:].upper()},
        {"examTitle": "_"},
        {"learnerLastName": "zzzz-nobody"},
        # combinations
        {"courseSid": first.course_sid, "status": "Scheduled"},
        {"reviewStatus": "pending", "appointmentBefore": to_utc_z(middle), "type": first.session_type},
        {"learnerFirstName": first.learner_first_name[:2], "examStatus": "active", "courseTitle": first.course_title[:2]},
    ]
    return out


def upstream_snapshot() -> str:
    """Everything the report holds right now (to tell whether the upstream moved during a round)."""
    url = (f"{settings.SMARTERPROCTORING_BASE_URL}/v1/installs/{settings.SMARTERPROCTORING_INSTALL_SID}"
           "/reports/appointments")
    response = requests.get(url, params={"limit": 1000}, headers={"token": settings.SMARTERPROCTORING_TOKEN}, timeout=30)
    body = response.json()
    assert body["total"] <= 1000, "the test sandbox is expected to hold at most one page of appointments"
    return json.dumps(body["results"], sort_keys=True)


def test_every_filter_lists_exactly_what_the_upstream_report_returns(sandbox, client_for, coordinator):
    client = client_for(coordinator)
    for _attempt in range(3):
        before = upstream_snapshot()
        call_command("sync_upstream", "appointments")
        assert Appointment.objects.live().count() > 100
        results = [(q, upstream_sids(q), cached_sids(client, q)) for q in queries()]
        if upstream_snapshot() == before:
            break  # the upstream held still for the whole round: any difference is ours
    else:
        pytest.fail("the sandbox kept changing during three rounds")
    mismatches = [(q, len(up), len(ours)) for q, up, ours in results if up != ours]
    assert not mismatches, mismatches
    assert sum(1 for _, up, _ in results if up) > len(results) * 2 // 3  # most queries match something
