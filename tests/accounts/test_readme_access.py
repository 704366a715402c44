"""README's access table is checked against the real permissions: every URL of the table is requested as every role
(real requests, real views, the sandbox behind the live pages) and the answer must match the cell — "yes" (200),
"no" (403), "own courses" (200 for an assigned course, 404 for another; list pages: 200, filtered). Every page
URL of the URL configuration must appear in the table, so a new page cannot go undocumented."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.conftest import SANDBOX_APPOINTMENTS, SANDBOX_SEED, _staff

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("coordinator", "instructor", "support")

# Routes that are not pages of the table: fragments, POST-only actions, polls, the sign-in machinery, /metrics.
NOT_PAGES = {
    "login", "logout", "oidc_authentication_init", "oidc_callback", "metrics", "home", "profile",
    "appointments:sessions", "appointments:saved_view_save", "appointments:saved_view_delete",
    "exams:new_validate", "exams:configuration_validate", "exams:creation", "exams:bulk_detail", "exams:bulk_apply",
    "exams:bulk_progress", "exams:bulk_cancel",
    "exams:configuration_save",  # the outcome of one background save: reached from its form, never typed
    "monitoring:poll", "monitoring:session", "monitoring:health_refresh", "monitoring:health_run",
    "monitoring:healthz",  # public probe, named in the text under the table
}


def readme_table() -> list[dict]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## What is in it", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or cells[0] in ("screen", "---") or set(cells[0]) <= {"-"}:
            continue
        urls = re.findall(r"`([^`]+)`", cells[1])
        rows.append({"screen": cells[0], "urls": urls, **dict(zip(ROLES, cells[2:]))})
    return rows


@pytest.fixture(scope="module")
def world():
    from proctordash.sandbox.data import generate

    return generate(seed=SANDBOX_SEED, appointments=SANDBOX_APPOINTMENTS, anchor=time.time())


@pytest.fixture
def places(world, db):
    """Real values for the placeholders: a configuration of the instructor's course and one of another course."""
    from tests.appointments.factories import AppointmentFactory, CourseFactory
    from tests.exams.conftest import _pick

    own = _pick(world)
    skip = 1
    while True:
        other = _pick(world, skip=skip)
        if other.course_sid != own.course_sid:
            break
        skip += 1
    values = {}
    for key, picked in (("own", own), ("other", other)):
        CourseFactory(sid=picked.course_sid)
        appointment = AppointmentFactory(course_sid=picked.course_sid, learner_email=f"{key}.learner@example.edu")
        values[key] = {"sid": appointment.sid, "email": appointment.learner_email, "courseSid": picked.course_sid, "examSid": picked.exam_sid,
                       "examConfigurationSid": picked.sid}
    return values


def fill(url: str, values: dict) -> str:
    return re.sub(r"<(\w+)>", lambda m: values[m.group(1)], url)


def shape(url: str) -> str:
    """A URL with every placeholder (or query) made alike: /courses/<str:course_sid>/exams/new ~ /courses/<courseSid>/exams/new"""
    return re.sub(r"<[^>]+>", "<>", url.split("?", 1)[0]).rstrip("/")


def test_every_page_is_in_the_table():
    from django.urls import URLPattern, URLResolver, get_resolver

    def walk(patterns, prefix="", namespace=""):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                yield from walk(entry.url_patterns, prefix + str(entry.pattern), ns)
            elif isinstance(entry, URLPattern) and entry.name:
                yield f"{namespace}{entry.name}", "/" + prefix + str(entry.pattern)

    documented = {shape(u) for row in readme_table() for u in row["urls"]}
    missing = [name for name, route in walk(get_resolver().url_patterns)
               if name not in NOT_PAGES and not name.startswith("admin:") and shape(route) not in documented]
    assert not missing, f"pages missing from README's access table: {missing}"


@pytest.mark.django_db
def test_readme_access_table_matches_the_real_permissions(client, sandbox, places):
    users = {"coordinator": _staff("cora", "coordinator"),
             "instructor": _staff("ian", "instructor", [places["own"]["courseSid"]]),
             "support": _staff("sam", "support")}
    rows = readme_table()
    assert rows, "README has no access table"
    wrong = []
    for row in rows:
        for url in row["urls"]:
            for role in ROLES:
                expected = row[role]
                assert expected in ("yes", "no", "own courses"), f"{row['screen']}: {role} cell {expected!r}"
                client.force_login(users[role])
                # follow=True: the create page first redirects to a URL that carries its form's idempotency key
                own = client.get(fill(url, places["own"]), follow=True).status_code
                want = 403 if expected == "no" else 200
                if own != want:
                    wrong.append(f"{url} as {role}: {own}, README says {expected!r}")
                if expected == "own courses" and "<" in url and role == "instructor":
                    other = client.get(fill(url, places["other"]), follow=True).status_code
                    if other != 404:
                        wrong.append(f"{url} (another course) as {role}: {other}, README says 'own courses'")
                client.logout()
    assert not wrong, "README's access table is not what the permissions do:\n" + "\n".join(wrong)
