"""Appointments per day, stacked by status, as plain numbers for a server-rendered SVG (no JavaScript, no CDN).

Long ranges are folded into weeks so the chart stays readable (at most MAX_BARS bars)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.utils.html import escape
from django.utils.safestring import mark_safe

from proctordash.core import vocabulary

MAX_BARS = 62
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


@dataclass
class Chart:
    bars: list[Bar]
    unit: str  # "day" or "week"
    max_total: int
    legend: list[tuple[str, str, int]]
    undated: int = 0  # matching appointments without a date (e.g. Needs Proctor): counted above, not charted
    width: int = WIDTH
    height: int = HEIGHT

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
            out.append(f'<g><title>{escape(bar.label)}: {bar.total}{title}</title>'
                       f'<rect x="{bar.x}" y="0" width="{bar.width}" height="{h}" class="hit"/>{rects}</g>')
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
    unit = "day" if (last - first).days < MAX_BARS else "week"
    buckets: dict[date, dict[str, int]] = {}
    step = timedelta(days=1 if unit == "day" else 7)
    start = first if unit == "day" else first - timedelta(days=first.weekday())
    cursor = start
    while cursor <= last:  # empty days are bars of height zero, so the x axis is time
        buckets[cursor] = {}
        cursor += step
    for day, counts in per_day.items():
        key = day if unit == "day" else day - timedelta(days=day.weekday())
        for status, n in counts.items():
            buckets[key][status] = buckets[key].get(status, 0) + n
    if len(buckets) > MAX_BARS * 8:  # a decade of weeks: keep the most recent
        buckets = dict(list(buckets.items())[-MAX_BARS * 8:])
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
        label = key.strftime("%a %d %b %Y") if unit == "day" else "week of " + key.strftime("%d %b %Y")
        bars.append(Bar(label, sum(counts.values()), round(i * slot, 2), round(max(slot - GAP, 1), 2), segments))
    legend = [(s, STATUS_CLASS[s], totals[s]) for s in STATUS_ORDER if totals[s]]
    return Chart(bars, unit, max_total, legend, undated)
