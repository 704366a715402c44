"""The appointments-per-day chart: days in order (empty days included), stacked by status, long ranges in weeks."""

from datetime import date, timedelta

from proctordash.appointments.charts import HEIGHT, MAX_BARS, build_chart


def test_days_stack_by_status_and_empty_days_are_zero_bars():
    d = date(2026, 3, 2)
    chart = build_chart([(d, "Scheduled", 3), (d, "Closed", 1), (d + timedelta(days=2), "Closed", 2), (None, "Closed", 9)])
    assert chart.unit == "day" and [b.total for b in chart.bars] == [4, 0, 2]
    first = chart.bars[0]
    assert [s.status for s in first.segments] == ["Scheduled", "Closed"]
    assert sum(s.height for s in first.segments) == HEIGHT  # the tallest bar fills the height
    assert first.segments[1].y == 0  # stacked upwards from the bottom
    assert chart.legend == [("Scheduled", "s-1", 3), ("Closed", "s-4", 3)]
    assert "busiest day Mon 02 Mar 2026 with 4" in chart.summary
    assert chart.undated == 9  # counted in the list's totals, not in a bar: the caption says so


def test_the_caption_says_how_many_appointments_have_no_date(client_for, coordinator):
    from django.utils import timezone

    from tests.appointments.factories import AppointmentFactory

    AppointmentFactory(status="Scheduled", appointment_date=timezone.now())
    AppointmentFactory.create_batch(2, status="Needs Proctor", appointment_date=None)
    html = client_for(coordinator).get("/appointments/").content.decode()
    assert "2 without a date are not charted." in html


def test_long_ranges_fold_into_weeks_and_unknown_statuses_are_kept():
    d = date(2026, 1, 1)
    rows = [(d + timedelta(days=i), "Scheduled", 1) for i in range(0, 200, 3)] + [(d, "Weird", 5)]
    chart = build_chart(rows)
    assert chart.unit == "week" and len(chart.bars) <= MAX_BARS
    assert sum(b.total for b in chart.bars) == len(range(0, 200, 3)) + 5
    assert ("(none)", "s-5", 5) in chart.legend


def test_no_dated_rows_no_bars():
    chart = build_chart([])
    assert chart.bars == [] and "No dated appointments" in chart.summary


def test_bars_svg_is_the_template_loop_it_replaced():
    from django.template import Context, Template

    reference = Template(
        '{% for bar in chart.bars %}<g><title>{{ bar.label }}: {{ bar.total }}{% for s in bar.segments %}; {{ s.status }}'
        ' {{ s.count }}{% endfor %}</title><rect x="{{ bar.x }}" y="0" width="{{ bar.width }}" height="{{ chart.height }}"'
        ' class="hit"/>{% for s in bar.segments %}<rect x="{{ bar.x }}" y="{{ s.y }}" width="{{ bar.width }}"'
        ' height="{{ s.height }}" class="{{ s.css }}"/>{% endfor %}</g>{% endfor %}')
    day = date(2026, 3, 1)
    rows = [(day + timedelta(days=i % 90), status, i % 7 + 1) for i, status in
            enumerate(["Scheduled", "Closed", "Needs Proctor", "<b>odd</b>", "In Progress"] * 40)]
    chart = build_chart(rows)
    assert chart.unit == "week" and len(chart.bars) > 10
    assert chart.bars_svg == reference.render(Context({"chart": chart}))
    assert "<b>odd" not in chart.bars_svg
