"""The sandbox's state: the generated world, the clock, writes, nonces and request counters, all in this process.

The clock is real time plus an offset that `POST /_sandbox/clock` advances. Appointments move Scheduled → In
Progress → Closed (and get their review completed) at times fixed by the seed; a heap of pending transitions is
applied lazily at the start of each request, so a request pays only for the records that changed since the last one.
ProctorExam sessions and incidents are computed from the clock when they are rendered.
"""

from __future__ import annotations

import heapq
import json
import threading
import time
from collections import OrderedDict, defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

from proctordash.sandbox.data import DAY, HOUR, Appointment, PEExam, PESession, World, generate, iso_z

NONCE_WINDOW = 24 * HOUR
_DUMPS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

# The subset of a configuration nested in each appointment (List Appointments reference page, in its order).
APPOINTMENT_CONFIG_KEYS = [
    "sid", "examSid", "enrollmentSid", "examOpenDate", "examCloseDate", "scheduleOpenDate", "scheduleCloseDate",
    "password", "duration", "attempts", "approved", "approvedBy", "requiredSoftware", "studentNotes",
    "permittedBathroomBreak", "permittedBathroomBreakInformation", "permittedBlankPaper",
    "permittedBlankPaperInformation", "permittedCalculator", "permittedCalculatorInformation", "permittedDictionary",
    "permittedDictionaryInformation", "permittedEarplugs", "permittedEarplugsInformation", "permittedFormulaSheet",
    "permittedFormulaSheetInformation", "permittedNotes", "permittedNotesInformation", "permittedOtherItems",
    "permittedTextbook", "permittedTextbookInformation", "permittedWebsites", "permittedWebsitesInformation",
    "synchronization", "proctorNotes", "proctorTypes", "instructorAsProctor", "createdDate", "editDate",
]
_NESTED = frozenset(["exam", "enrollment", "course", "examConfiguration"])
_KEY_BYTES = {key: f',"{key}":'.encode() for key in _NESTED}
PE_ZONE = ZoneInfo("Europe/Amsterdam")  # ProctorExam answers in its own zone with an offset, like its examples


def pe_time(ts: float | None) -> str | None:
    """ProctorExam's `2018-11-17T17:01:25.788+01:00`."""
    if ts is None:
        return None
    dt = datetime.fromtimestamp(ts, PE_ZONE)
    return dt.isoformat(timespec="milliseconds")


def dumps(obj) -> bytes:
    return _DUMPS(obj).encode()


class Store:
    """Everything the sandbox serves; every method that reads or writes holds `lock`."""

    def __init__(self, *, seed: int, appointments: int, anchor: float, install_sid: str):
        self.seed = seed
        self.size = appointments
        self.anchor = anchor
        self.install_sid = install_sid
        self.lock = threading.RLock()
        self.offset = 0.0
        self.nonces: dict[str, float] = {}
        self.requests: dict[str, int] = defaultdict(int)
        self.load()

    # --- set-up ---------------------------------------------------------------------------------------------------
    def load(self) -> None:
        """(Re)generate the world from the seed and anchor; drops every write, the clock offset and seen nonces."""
        world = generate(seed=self.seed, appointments=self.size, anchor=self.anchor)
        with self.lock:
            self.world: World = world
            self.offset = 0.0
            self.nonces = {}
            self.requests = defaultdict(int)
            for exam in world.exams.values():
                exam["applicationInstallSid"] = self.install_sid
            self.by_config: dict[str, list[Appointment]] = defaultdict(list)
            self.by_enrollment_exam: dict[tuple[str, str], list[Appointment]] = defaultdict(list)
            self.pe_exams: dict[int, PEExam] = {exam.id: exam for exam in world.pe_exams}
            self.events: list = []
            now = self.now()
            for index, appt in enumerate(world.appointments):
                if appt.config_sid:
                    self.by_config[appt.config_sid].append(appt)
                self.by_enrollment_exam[(appt.doc["enrollmentSid"], appt.doc["examSid"])].append(appt)
                if appt.lifecycle:
                    nxt = self._move(appt, now)
                    if nxt is not None:
                        self.events.append((nxt, index, appt))
            heapq.heapify(self.events)
            self.last_tick = now
            # Paging through a filtered report repeats the same scan on every page: keep the last few results.
            # Status-dependent filters are valid only until the next status change (`generation`).
            self.generation = 0
            self.filter_cache: OrderedDict = OrderedDict()
            self.nested_json: dict[int, bytes] = {}  # id(shared nested dict) → its JSON (the dicts never change)
            self.config_json: dict[str, bytes] = {}  # configuration sid → JSON of the subset nested in appointments

    # --- the clock ------------------------------------------------------------------------------------------------
    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.offset += seconds
            self.tick()

    def tick(self) -> float:
        """Apply every appointment transition due by now; returns now."""
        with self.lock:
            now = self.now()
            events = self.events
            while events and events[0][0] <= now:
                self.generation += 1
                _, index, appt = heapq.heappop(events)
                nxt = self._move(appt, now)
                appt.cached = None
                if nxt is not None:
                    heapq.heappush(events, (nxt, index, appt))
            self.last_tick = now
            return now

    @staticmethod
    def _move(appt: Appointment, t: float) -> float | None:
        """Put a lifecycle appointment in its state at time t; return the time of its next transition."""
        doc = appt.doc
        start, end = appt.date, appt.date + appt.duration
        if t < start:
            doc["status"], nxt, edited = "Scheduled", start, appt.created
        elif t < end:
            doc["status"], nxt, edited = "In Progress", end, start
            doc["recordingStartDate"] = iso_z(start + 45)
        else:
            doc["status"], nxt, edited = "Closed", None, end
            doc["recordingStartDate"] = iso_z(start + 45)
            # A deterministic share of closed sessions carries reports (flags raised by the proctor).
            doc["sessionReportCount"] = int(appt.sid[2], 16) % 4 if int(appt.sid[3], 16) < 6 else 0
        if appt.review_done_at is not None:
            if t >= appt.review_done_at:
                doc["reviewCompletedDate"] = iso_z(appt.review_done_at)
                edited = max(edited, appt.review_done_at)
            elif nxt is None:  # closed, the review is still to come (it always follows the end)
                nxt = appt.review_done_at
        appt.edited = edited
        return nxt

    def warm(self, chunk: int = 1000) -> None:
        """Encode every appointment ahead of the first client (run in a background thread after start-up), a chunk
        at a time so requests are never held up for long."""
        world = self.world
        for start in range(0, len(world.appointments), chunk):
            with self.lock:
                if self.world is not world:  # reset in between: the new world warms itself
                    return
                for appt in world.appointments[start:start + chunk]:
                    self.appointment_json(appt)
            time.sleep(0)

    def filtered(self, query: dict, compute) -> list:
        """The appointments matching `query` (without offset/limit), from the cache while still valid."""
        key = tuple(sorted((k, v) for k, v in query.items() if k not in ("offset", "limit")))
        volatile = "status" in query or "reviewStatus" in query
        entry = self.filter_cache.get(key)
        if entry is not None and (not volatile or entry[0] == self.generation):
            self.filter_cache.move_to_end(key)
            return entry[1]
        items = compute()
        self.filter_cache[key] = (self.generation, items)
        if len(self.filter_cache) > 64:
            self.filter_cache.popitem(last=False)
        return items

    # --- SmarterProctoring records ----------------------------------------------------------------------------------
    def appointment_dict(self, appt: Appointment) -> dict:
        doc = appt.doc
        if appt.config_sid is not None:
            config = self.world.configurations[appt.config_sid]
            doc = dict(doc)
            doc["examConfiguration"] = {key: config.get(key) for key in APPOINTMENT_CONFIG_KEYS}
        return doc

    def appointment_json(self, appt: Appointment) -> bytes:
        """The record's JSON, cached; nested objects shared by many records are encoded once and spliced in."""
        cached = appt.cached
        if cached is not None:
            return cached
        doc = appt.doc
        top = dumps({k: v for k, v in doc.items() if k not in _NESTED})
        nested = self.nested_json
        parts = [top[:-1]]
        for key in ("exam", "enrollment", "course"):
            obj = doc[key]
            encoded = nested.get(id(obj))
            if encoded is None:
                encoded = nested[id(obj)] = dumps(obj)
            parts += [_KEY_BYTES[key], encoded]
        if appt.config_sid is not None:
            encoded = self.config_json.get(appt.config_sid)
            if encoded is None:
                config = self.world.configurations[appt.config_sid]
                encoded = dumps({key: config.get(key) for key in APPOINTMENT_CONFIG_KEYS})
                self.config_json[appt.config_sid] = encoded
            parts += [_KEY_BYTES["examConfiguration"], encoded]
        parts.append(b"}")
        cached = appt.cached = b"".join(parts)
        return cached

    @staticmethod
    def session_status(appt: Appointment) -> tuple[str, bool]:
        """An appointment seen as an enrollment exam session: (status, is the active session)."""
        doc = appt.doc
        status = doc["status"]
        if status == "In Progress":
            return "Processing", True
        if status == "Scheduled":
            if doc["exam"]["requireApproval"] and doc["dateApproved"] is None:
                return "Pending Approval", False
            return "Scheduled", False
        if status == "Cancelled":
            return "Approval Denied", False
        if status == "Closed" and doc["sessionReportCount"]:
            return "Incident", False
        return status, False  # Needs Proctor, Closed

    def configuration_public(self, config: dict) -> dict:
        return {k: v for k, v in config.items() if not k.startswith("_")}

    def exam_public(self, exam: dict) -> dict:
        return {k: v for k, v in exam.items() if not k.startswith("_")}

    def invalidate_configuration(self, config_sid: str) -> None:
        self.config_json.pop(config_sid, None)
        for appt in self.by_config.get(config_sid, ()):
            appt.cached = None

    # --- ProctorExam records --------------------------------------------------------------------------------------
    def pe_exam_status(self, exam: PEExam, t: float) -> str:
        if exam.draft:
            return "draft"
        return "closed" if t >= exam.end else "open"

    def pe_exam_dict(self, exam: PEExam, t: float) -> dict:
        doc = {"id": exam.id, "name": exam.name, "start_time": pe_time(exam.start), "end_time": pe_time(exam.end),
               "status": self.pe_exam_status(exam, t)}
        doc.update(exam.extra)
        doc["created_at"] = pe_time(exam.created)
        # The last change: when it opened or closed (never "now", so an unchanged exam reads the same every time).
        if exam.draft or t < exam.start:
            changed = exam.created
        else:
            changed = exam.end if t >= exam.end else exam.start
        doc["updated_at"] = pe_time(changed)
        doc["student_sessions_count"] = len(exam.sessions)
        return doc

    @staticmethod
    def pe_timeline(session: PESession) -> list[tuple[float, str]]:
        s = session.start
        steps = [(session.created, "registered"), (s - 72 * HOUR, "before_check_req_mail")]
        if session.branch == "bounced":
            return steps + [(s - 71 * HOUR, "email_bounced")]
        steps += [(s - 71 * HOUR, "email_sent"), (s - 48 * HOUR, "after_check_req_mail"),
                  (s - 24 * HOUR, "before_check_req"), (s - 3 * HOUR, "after_check_req"), (s - 15 * 60, "in_setup")]
        if session.branch == "no_show":
            return steps + [(s, "exam_not_started")]
        return steps + [(s, "exam_started"), (s + session.duration, "exam_finished")]

    def pe_session_status(self, session: PESession, t: float) -> tuple[str, float]:
        status, changed = "registered", session.created
        for at, name in self.pe_timeline(session):
            if at <= t:
                status, changed = name, max(at, session.created)
            else:
                break
        return status, changed

    def pe_session_dict(self, session: PESession, t: float) -> dict:
        status, changed = self.pe_session_status(session, t)
        s = session.start
        started = status in ("exam_started", "exam_finished")
        checks_done = status in ("after_check_req", "in_setup", "exam_started", "exam_finished", "exam_not_started")
        check = ("failed" if session.branch == "failed_check" else "passed") if checks_done else "not_started"
        static = session.static
        incidents = []
        for at, incident in session.incidents:
            if at > t:
                break
            incidents.append({"id": incident["id"], "student_session_id": session.id, "comment": incident["comment"],
                              "created_at": pe_time(at), "updated_at": pe_time(at),
                              "offset_time": incident["offset_time"]})
        last_change = max([changed] + [at for at, _ in session.incidents if at <= t])
        finished = status == "exam_finished"
        return {
            "id": session.id,
            "session_id": static["session_id"],
            "student_id": static["student_id"],
            "external_id": static["external_id"],
            "proctor_id": static["proctor_id"],
            "time_slot": static["time_slot"],
            "created_at": pe_time(session.created),
            "updated_at": pe_time(last_change),
            "email": session.email,
            "operating_system": static["operating_system"] if checks_done else None,
            "browser": static["browser"] if checks_done else None,
            "browser_version": static["browser_version"] if checks_done else None,
            "status": status,
            "token": None,
            "screenshare_check": check,
            "microphone_check": check,
            "speakers_check": "passed" if checks_done else "not_started",
            "webcam_check": check,
            "mobile_check": "not_started",
            "dummy_exam_survey": None,
            "skip_requirements": False,
            "send_confirmation": False,
            "name": session.name,
            "start_time": pe_time(s) if started else None,
            "exam_id": session.exam_id,
            "expires_at": None,
            "end_time": pe_time(s + session.duration) if finished else None,
            "entered_room": started,
            "reservation_time": pe_time(s),
            "exam_document_content_type": None,
            "exam_document_file_size": None,
            "exam_document_updated_at": None,
            "reviewed": ("10" if session.id % 3 == 0 else None) if finished and t > s + session.duration + DAY
            else None,
            "id_card_file_name": "data" if started else None,
            "id_card_content_type": "image/png" if started else None,
            "id_card_file_size": 150000 + session.id % 90000 if started else None,
            "face_photo_file_name": "data" if started else None,
            "face_photo_content_type": "image/png" if started else None,
            "face_photo_file_size": 180000 + session.id % 70000 if started else None,
            "bandwidth_check": check,
            "bandwidth_speed": static["bandwidth_speed"] if checks_done else None,
            "open_time": pe_time(s - 30 * 60),
            "individual_info": static["individual_info"],
            "rtc_session_id": 0,
            "in_setup": status == "in_setup",
            "in_check_requirements": status == "before_check_req",
            "attempt": 1 if started else 0,
            "archived": finished and t > s + 14 * DAY,
            "current_exam_mode": "01010000",
            "rtc_session_ids": [],
            "transcoding_status": "transcoded" if finished else "not_sent_to_queue",
            "is_individual_info_html": False,
            "priority": static["priority"],
            "recording_started_at": pe_time(s + 30) if started else None,
            "recording_ended_at": pe_time(s + session.duration) if finished else None,
            "is_email_sent": status not in ("registered", "before_check_req_mail", "email_bounced"),
            "incidents": incidents,
        }

    # --- nonces ---------------------------------------------------------------------------------------------------
    def use_nonce(self, nonce: str, real_now: float) -> bool:
        """Record a nonce; False when it was used within the last 24 hours (real time, like the signer's clock)."""
        with self.lock:
            seen = self.nonces.get(nonce)
            if seen is not None and real_now - seen < NONCE_WINDOW:
                return False
            self.nonces[nonce] = real_now
            if len(self.nonces) > 200_000:  # prune now and then; the window is what matters
                cutoff = real_now - NONCE_WINDOW
                self.nonces = {k: v for k, v in self.nonces.items() if v >= cutoff}
            return True
