"""The list's rows are rendered in Python for speed (appointments/rendering.py); they must be the exact markup the
template loop wrote, escaping included. The reference below is that loop, verbatim."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.template import Context, Template
from django.test import RequestFactory
from django.utils import timezone

from proctordash.appointments import rendering, selectors
from proctordash.appointments.views import _flag_reviews
from tests.appointments.factories import AppointmentFactory

REFERENCE = Template("""{% load dashtime %}{% for a in rows %}
            <tr>
              <td class="when">{% if a.appointment_date %}{% dashtime a.appointment_date %}<br><span class="muted small">{{ a.appointment_date|relative }}</span>{% else %}<span class="muted">not scheduled</span>{% endif %}</td>
              <td><a href="{% url 'appointments:detail' a.sid %}">{{ a.learner_name|default:"(no name)" }}</a></td>
              <td class="email">{{ a.learner_email }}</td>
              <td>{{ a.course_title|default:a.course_sid }}</td>
              <td>{{ a.exam_title|default:a.exam_sid }}</td>
              <td>{{ a.session_type }}</td>
              <td><span class="status st-{{ a.status|slugify }}">{{ a.status|default:"—" }}</span></td>
              <td>{{ a.review_status|default:"—" }}</td>
              <td class="review-by {{ a.review_flag }}">
                {% if a.review_by_date %}{% dashtime a.review_by_date %}
                  {% if a.review_flag == "overdue" %}<br><span class="badge bad">⚠ Overdue {{ a.review_by_date|relative }}</span>
                  {% elif a.review_flag == "soon" %}<br><span class="badge warn">Due soon: {{ a.review_by_date|relative }}</span>{% endif %}
                {% else %}<span class="muted">—</span>{% endif %}
              </td>
              <td class="num">{{ a.session_report_count|default_if_none:"—" }}</td>
            </tr>{% endfor %}""")


def squash(html: str) -> str:
    """Whitespace between tags is layout only."""
    return re.sub(r">\s+<", "><", re.sub(r"\s+", " ", html)).strip()


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
    rows = list(selectors.appointment_list(user=user, filters={}).only(*selectors.LIST_COLUMNS))
    _flag_reviews(rows, now)
    assert {r.review_flag for r in rows} == {"", "overdue", "soon"}
    request = RequestFactory().get("/appointments/")
    request.user = user
    expected = REFERENCE.render(Context({"rows": rows, "request": request}))
    got = rendering.rows_html(rows, user=user, now=now)
    assert squash(got) == squash(expected)
    assert "<script>" not in got and "&lt;script&gt;" in got
    if own_zone:
        assert "own-zone" in got and "JST" in got
