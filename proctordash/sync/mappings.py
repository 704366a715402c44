"""What each domain app gives the sync engine: how an upstream record becomes its cache rows.

The engine (passes.py) fetches pages, holds the lock, keeps the run's books and decides *when* rows may be marked
removed; it never names a cache model. The domain apps own their cache models and register a mapping for each kind
of data in their AppConfig.ready() (appointments/mapping.py, monitoring/mapping.py). This keeps the imports one way:
domain apps → sync → integrations → core.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

APPOINTMENTS = "appointments"
ENROLLMENT_SESSIONS = "enrollment_sessions"
PROCTOREXAM = "proctorexam"


@dataclass
class PageResult:
    """What writing one page did: rows created and updated, and the keys of every record on the page."""

    created: int
    updated: int
    keys: list[Any]  # every record of the page that has a key, written or not (malformed ones included)
    # malformed records left out of the write, (key, error naming the bad fields); the pass reports them
    skipped: list[tuple[Any, str]] = field(default_factory=list)

    @property
    def sids(self) -> list[Any]:  # the appointments' keys are SIDs
        return self.keys


@dataclass(frozen=True)
class AppointmentsMapping:
    """SmarterProctoring's List Appointments → the appointment cache (and its courses, offerings, exams)."""

    # records (pydantic or raw dicts) of one page → upsert in one transaction; unchanged rows are not written
    write_page: Callable[..., PageResult]
    # live rows last written before `seen_before`, optionally dated inside `window`: their keys
    live_keys: Callable[..., Iterator[str]]
    # how many live rows there are (the removal guard compares with it)
    live_count: Callable[[], int]
    # mark these rows removed (only those still live and not written since `seen_before`); returns how many
    mark_removed: Callable[..., int]
    # key → List Appointments filters that find that record again (exam_sid, learner_sid), for those it can
    lookup_filters: Callable[[list[str]], dict[str, dict[str, str]]]


@dataclass(frozen=True)
class SessionsMapping:
    """SmarterProctoring's List enrollment exam sessions (one enrollment + exam) → the sessions cache."""

    # (records, *, enrollment_sid, exam_sid, seen_before, now) → (created, updated, removed, rows written)
    write_pair: Callable[..., tuple[int, int, int, int]]
    # ((after, before), *, limit) → (enrollment_sid, exam_sid) pairs of live appointments dated in that window
    pairs_in_window: Callable[..., list[tuple[str, str]]]


@dataclass(frozen=True)
class ProctorExamMapping:
    """ProctorExam's exams and student sessions (with incidents) → the monitor's cache."""

    # (records, *, now, only=None) → (created, updated, ids of the records written); `only` keeps those ids only
    write_exams: Callable[..., tuple[int, int, set[int]]]
    # ids of exams cached as open (and live) that are not in `ids`
    open_exam_ids_except: Callable[[set[int]], set[int]]
    # (ids, *, seen_before, now) → how many exams were marked removed
    mark_exams_removed: Callable[..., int]
    # (exam_id, records, *, seen_before, now) → (created, updated, removed, rows written)
    write_student_sessions: Callable[..., tuple[int, int, int, int]]


_registry: dict[str, Any] = {}


def register(name: str, mapping: Any) -> None:
    """Called from a domain app's AppConfig.ready()."""
    _registry[name] = mapping


def get(name: str) -> Any:
    try:
        return _registry[name]
    except KeyError:
        raise LookupError(f"no sync mapping {name!r} is registered (is its app in INSTALLED_APPS?)") from None
