"""Appointments per day, stacked by status, as plain numbers for a server-rendered SVG (no JavaScript, no CDN).

Long ranges are folded into weeks, then months, so the chart stays readable and every bar stays a target of at least
24 px (at most MAX_BARS bars of days or weeks; months are never cut). Each bar is a link applying its date range."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from django.utils.html import escape
from django.utils.safestring import mark_safe

from proctordash.core import vocabulary

MAX_BARS = 31
MIN_BAR_PX = 26  # a bar's width at least (24 px target + gap): the chart scrolls in its box below that
STATUS_ORDER = [*vocabulary.APPOINTMENT_STATUSES, "(none)"]
STATUS_CLASS = {status: f"s-{i}" for i, status in enumerate(STATUS_ORDER)}
WIDTH, HEIGHT, GAP = 800, 120, 2
_ESCAPED_STATUS = {status: str(escape(status)) for status in STATUS_ORDER}


@dataclass
class Segment:
    status: str
    count: int
    y: float
    height: float
    css: str


@dataclass
class Bar:
    label: str
    total: int
    x: float
    width: float
    segments: list[Segment]
    start: date | None = None  # the bar's range, local dates: start inclusive, end exclusive
    end: date | None = None


@dataclass
class Chart:
    bars: list[Bar]
    unit: str  # "day" or "week"
    max_total: int
    legend: list[tuple[str, str, int]]
    undated: int = 0  # matching appointments without a date (e.g. Needs Proctor): counted above, not charted
    width: int = WIDTH
    height: int = HEIGHT
    link: Callable[[str, str], str] | None = None  # (after, before) → the list URL applying that range

    @property
    def min_width_px(self) -> int:
        return len(self.bars) * MIN_BAR_PX

    @property
    def bars_svg(self) -> str:
        """The bars as SVG (`<g>` per bar: a title, a full-height hit area, one rect per status), written in Python:
        a year of weekly bars is ~250 rects and the template loop was a visible share of the list's time."""
        h = self.height
        out = []
        escaped = _ESCAPED_STATUS  # a handful of fixed statuses: escaped once, not per segment (~300 per chart)
        for bar in self.bars:
            title = "".join(f"; {escaped.get(s.status) or escape(s.status)} {s.count}" for s in bar.segments)
            rects = "".join(f'<rect x="{bar.x}" y="{s.y}" width="{bar.width}" height="{s.height}" class="{s.css}"/>'
                            for s in bar.segments)
            group = (f'<g><title>{escape(bar.label)}: {bar.total}{title}</title>'
                     f'<rect x="{bar.x}" y="0" width="{bar.width}" height="{h}" class="hit"/>{rects}</g>')
            if self.link is not None and bar.start is not None:
                after, before = bar.start.isoformat(), bar.end.isoformat()
                noun = "appointment" if bar.total == 1 else "appointments"
                group = (f'<a href="{escape(self.link(after, before))}" data-apply aria-label="{escape(bar.label)}: {bar.total} {noun}; '
                         f'show them">{group}</a>')
            out.append(group)
        return mark_safe("".join(out))

    @property
    def summary(self) -> str:
        if not self.bars:
            return "No dated appointments for this filter."
        busiest = max(self.bars, key=lambda b: b.total)
        return (f"Appointments per {self.unit} from {self.bars[0].label} to {self.bars[-1].label}; "
                f"busiest {self.unit} {busiest.label} with {busiest.total}.")


def build_chart(rows: list[tuple]) -> Chart:
    """rows: (local date, status, count) as selectors.appointment_per_day returns them."""
    per_day: dict[date, dict[str, int]] = {}
    undated = 0
    for day, status, n in rows:
        if day is None:
            undated += n
            continue
        per_day.setdefault(day, {})
        key = status if status in STATUS_CLASS else "(none)"
        per_day[day][key] = per_day[day].get(key, 0) + n
    if not per_day:
        return Chart([], "day", 0, [], undated)
    first, last = min(per_day), max(per_day)
    if (last - first).days < MAX_BARS:
        unit = "day"
    elif (last - first).days < MAX_BARS * 7:
        unit = "week"
    else:
        unit = "month"

    def bucket_of(day: date) -> date:
        if unit == "day":
            return day
        if unit == "week":
            return day - timedelta(days=day.weekday())
        return day.replace(day=1)

    def after(key: date) -> date:
        if unit == "day":
            return key + timedelta(days=1)
        if unit == "week":
            return key + timedelta(days=7)
        return (key.replace(day=28) + timedelta(days=4)).replace(day=1)

    buckets: dict[date, dict[str, int]] = {}
    cursor = bucket_of(first)
    while cursor <= last:  # empty days are bars of height zero, so the x axis is time
        buckets[cursor] = {}
        cursor = after(cursor)
    for day, counts in per_day.items():
        key = bucket_of(day)
        for status, n in counts.items():
            buckets[key][status] = buckets[key].get(status, 0) + n
    max_total = max((sum(c.values()) for c in buckets.values()), default=0) or 1
    slot = WIDTH / len(buckets)
    bars = []
    totals = {s: 0 for s in STATUS_ORDER}
    for i, (key, counts) in enumerate(buckets.items()):
        y = HEIGHT
        segments = []
        for status in STATUS_ORDER:
            n = counts.get(status, 0)
            if not n:
                continue
            totals[status] += n
            h = HEIGHT * n / max_total
            y -= h
            segments.append(Segment(status, n, round(y, 2), round(h, 2), STATUS_CLASS[status]))
        label = {"day": key.strftime("%a %d %b %Y"), "week": "week of " + key.strftime("%d %b %Y"),
                 "month": key.strftime("%B %Y")}[unit]
        bars.append(Bar(label, sum(counts.values()), round(i * slot, 2), round(max(slot - GAP, 1), 2), segments,
                        key, after(key)))
    legend = [(s, STATUS_CLASS[s], totals[s]) for s in STATUS_ORDER if totals[s]]
    return Chart(bars, unit, max_total, legend, undated)
