"""The upstreams' vocabulary, copied from the reference pages in shared/upstream-api/ (one source for the sandbox,
the clients, the filters and the forms)."""

from __future__ import annotations

import re

# SIDs: two letters and 32 lowercase hex digits.
SID_PREFIXES = {
    "install": "AI",
    "course": "CU",
    "course_offering": "CO",
    "exam": "EX",
    "exam_configuration": "EC",
    "enrollment": "EN",
    "exam_session": "ES",
    "user": "US",
    "proctor_type": "TS",
}
SID_PATTERNS = {name: re.compile(rf"^{prefix}[a-f0-9]{{32}}$") for name, prefix in SID_PREFIXES.items()}


def is_sid(kind: str, value: str | None) -> bool:
    return bool(value) and SID_PATTERNS[kind].fullmatch(value) is not None


# List Appointments: query enums
APPOINTMENT_TYPES = ["b-virtual", "examity", "proctoru", "register-blast", "instructor-as-proctor", "messaging",
                     "ad-hoc", "vtc", "automated"]
APPOINTMENT_STATUSES = ["Needs Proctor", "Scheduled", "Cancelled", "In Progress", "Closed"]
REVIEW_STATUSES = ["pending", "complete", "not-required"]
EXAM_STATUSES = ["active", "draft", "deleted"]
# Name-like filters of the appointment report must not contain '%' (pattern ^[^%]*$).
NAME_FILTER_PATTERN = re.compile(r"^[^%]*$")
UTC_DATETIME_PATTERN = re.compile(r".*Z")  # the reference pages' pattern for dates: ISO 8601 ending in Z

# List enrollment exam sessions
EXAM_SESSION_STATUSES = ["Needs Proctor", "Pending Approval", "Approval Denied", "Scheduled", "Incident", "Closed",
                         "Processing"]
EXAM_SESSION_SORT_KEYS = ["createdDate"]
SORT_ORDERS = ["ASC", "DESC"]

# Create exam
EXAM_TYPES = ["Online", "Written"]
INSTRUCTOR_AS_PROCTOR_TIME_TYPES = ["between"]  # the only value the reference page shows

# The nine permitted items of an exam configuration, each with a boolean and an "...Information" text.
PERMITTED_ITEMS = ["BathroomBreak", "BlankPaper", "Calculator", "Dictionary", "Earplugs", "FormulaSheet", "Notes",
                   "Textbook", "Websites"]

# ProctorExam v3
PROCTOREXAM_EXAM_STATUSES = ["draft", "open", "closed"]
PROCTOREXAM_SESSION_STATUSES = ["registered", "before_check_req_mail", "email_bounced", "email_sent",
                                "after_check_req_mail", "before_check_req", "after_check_req", "in_setup",
                                "exam_not_started", "exam_started", "exam_finished"]
PROCTOREXAM_MAX_LIMIT = 300
