"""The list's rows are rendered in Python for speed (appointments/rendering.py): escaping, one line of cells per row,
the full text of every shortened value in its title."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from proctordash.appointments import rendering, selectors
from proctordash.appointments.views import _flag_reviews
from proctordash.core import timezones
from tests.appointments.factories import AppointmentFactory

# The rows were pinned to the template loop they replaced until the one-line rows of issue 14 changed the markup;
# what matters of it is now asserted directly: escaping, one <tr> per row, the cells' classes and full-text titles.
@pytest.mark.parametrize("own_zone", ["", "Asia/Tokyo"])
def test_python_rows_are_the_template_rows(coordinator, own_zone):
    coordinator.staff_profile.time_zone = own_zone
    coordinator.staff_profile.save()
    now = timezone.now()
    AppointmentFactory(learner_first_name='<script>alert("x")</script>', learner_last_name="O'Brien & Co",
                       learner_email="=HYPERLINK(\"http://evil\")@x.edu", course_title="", exam_title="",
                       status="Needs Proctor", review_status="pending", review_by_date=now - timedelta(hours=5),
                       session_report_count=None)
    AppointmentFactory(appointment_date=None, learner_first_name="", learner_last_name="", status="",
                       review_status="pending", review_by_date=now + timedelta(hours=3), session_report_count=4)
    AppointmentFactory(status="In Progress", review_status="complete", review_by_date=now + timedelta(days=3),
                       learner_first_name="Zoë", learner_last_name="Ødegård")
    AppointmentFactory(review_status="", session_type="")
    user = type(coordinator).objects.get(pk=coordinator.pk)  # a fresh instance: the profile as saved
    rows = list(selectors.appointment_list(user=user, filters={"when": "all"}).only(*selectors.LIST_COLUMNS))
    _flag_reviews(rows, now)
    assert {r.review_flag for r in rows} == {"", "overdue", "soon"}
    got = rendering.rows_html(rows, user=user, now=now)
    assert got.count("<tr>") == len(rows) == 4
    assert "<script>" not in got and "&lt;script&gt;" in got
    assert 'title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; O&#x27;Brien &amp; Co"' in got
    assert 'title="=HYPERLINK(&quot;http://evil&quot;)@x.edu"' in got  # (the page shows it inert; the CSV neutralises)
    assert '<td class="when"><span class="muted">not scheduled</span></td>' in got
    assert '<span class="badge bad">⚠ Overdue 5 h ago</span>' in got and '<span class="badge warn">Due in 3 h</span>' in got
    for row in got.split("\n"):
        for cls in ("when", "learner", "email", "course", "exam", "type", "st", "review", "num"):
            assert f'<td class="{cls}' in row, (cls, row)
    dated = next(r for r in rows if r.appointment_date and r.learner_first_name == "Zoë")
    zone_text = timezones.format_in_zone(dated.appointment_date, timezones.dashboard_zone(), "%a %d %b %Y %H:%M")
    assert f'title="{zone_text}' in got  # the full date (with the year) on hover; the row shows it short
    if own_zone:
        assert "own-zone" in got and "JST" in got
