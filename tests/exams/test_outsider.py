"""No field of another course's exam reaches an instructor (issue 17, item 5).

An instructor of course A walks EVERY URL of the exams app (read from the URL configuration, so views added later are
walked too) with the SIDs, keys and ids of course B's exam — alone and mixed into URLs of their own course — by GET
and POST, as a page and as an htmx fragment, through the error paths: a bad version token, the upstream down, a
configuration the upstream does not know. Course B's data carry unique markers (exam and course titles, notes,
learner, history, creations, bulk changes, background saves, and the live configuration upstream); no response may
contain one, and none may be a 500."""

from __future__ import annotations

import itertools
import re
import uuid

import pytest
from django.utils import timezone

from proctordash.exams.fields import put_body
from tests.exams.conftest import Picked, _pick

pytestmark = pytest.mark.django_db

MARK = "Zq7Other"  # every field of course B's exam that a page could show carries this
MARKERS = [f"{MARK}Exam", f"{MARK}Course", f"{MARK}Notes", f"{MARK}Learner", f"{MARK}Reason", f"{MARK}Creation",
           f"{MARK}Bulk", f"{MARK}Upstream", f"{MARK}Pw"]


def exams_urls() -> list[tuple[str, list[str]]]:
    """(url name, [parameter names]) of every pattern in the exams namespace."""
    from proctordash.exams import urls

    out = []
    for pattern in urls.urlpatterns:
        params = re.findall(r"<(?:\w+:)?(\w+)>", str(pattern.pattern))
        out.append((pattern.name, params))
    return out


@pytest.fixture
def outsider_world(world, clean_sandbox, sp, cfg, instructor_of):
    """Course B = the picked configuration's course, marked everywhere; course A = another sandbox course, taught
    by the outsider."""
    from proctordash.appointments.models import Appointment, Course, Exam
    from proctordash.exams.models import (
        BulkChange,
        BulkChangeItem,
        CachedConfiguration,
        ConfigurationChange,
        ConfigurationSave,
        ExamCreation,
    )

    other = cfg  # course B
    own = next(_pick(world, skip=i) for i in itertools.count() if _pick(world, skip=i).course_sid != other.course_sid)
    raw = sp.get_configuration(**other.args()).raw
    sp.update_configuration(**other.args(), body=put_body(raw) | {"studentNotes": f"{MARK}Upstream notes",
                                                                  "password": f"{MARK}Pw-secret"})
    Course.objects.update_or_create(sid=other.course_sid, defaults={"title": f"{MARK}Course title"})
    Exam.objects.update_or_create(sid=other.exam_sid, defaults={"course_sid": other.course_sid,
                                                               "title": f"{MARK}Exam title"})
    CachedConfiguration.objects.create(sid=other.sid, exam_sid=other.exam_sid, course_sid=other.course_sid,
                                       raw={"sid": other.sid, "studentNotes": f"{MARK}Notes"}, values_hash="x",
                                       fetched_at=timezone.now())
    Appointment.objects.create(sid="ES" + "7" * 32, exam_sid=other.exam_sid, course_sid=other.course_sid,
                               enrollment_sid="EN" + "7" * 32, configuration_sid=other.sid,
                               learner_first_name=f"{MARK}Learner", exam_title=f"{MARK}Exam title",
                               course_title=f"{MARK}Course title", content_hash="x", last_seen_at=timezone.now())
    ConfigurationChange.objects.create(configuration_sid=other.sid, exam_sid=other.exam_sid,
                                       course_sid=other.course_sid, source="outside", reason=f"{MARK}Reason",
                                       diff=[{"key": "attempts", "label": "Attempts allowed", "old": "1",
                                              "new": f"{MARK}Reason"}])
    creation = ExamCreation.objects.create(course_sid=other.course_sid, title=f"{MARK}Creation", status="unknown")
    bulk = BulkChange.objects.create(change={"kind": "attempts", "attempts": 2}, description=f"{MARK}Bulk")
    BulkChangeItem.objects.create(bulk=bulk, course_sid=other.course_sid, exam_sid=other.exam_sid,
                                  configuration_sid=other.sid, exam_title=f"{MARK}Exam title")
    save = ConfigurationSave.objects.create(course_sid=other.course_sid, exam_sid=other.exam_sid,
                                            configuration_sid=other.sid, message=f"{MARK}Reason")
    outsider = instructor_of(own.course_sid, "outsider")
    return {"own": own, "other": other, "outsider": outsider, "key": str(creation.key), "bulk_id": bulk.pk,
            "save_id": str(save.pk)}


def url_variants(name: str, params: list[str], w: dict) -> list[str]:
    """The URL of `name` with course B's values, and (where the URL has a course) mixed into course A's."""
    from django.urls import reverse

    own, other = w["own"], w["other"]
    values = {"exam_sid": other.exam_sid, "configuration_sid": other.sid, "key": w["key"], "bulk_id": w["bulk_id"],
              "save_id": w["save_id"]}
    unknown = set(params) - set(values) - {"course_sid"}
    assert not unknown, f"exams:{name} has parameters this walk does not know yet: {unknown} — add a value"
    urls = []
    for course in ([other.course_sid, own.course_sid] if "course_sid" in params else [None]):
        kwargs = {p: values[p] for p in params if p != "course_sid"}
        if course:
            kwargs["course_sid"] = course
        urls.append(reverse(f"exams:{name}", kwargs=kwargs))
    return urls


def assert_nothing_of_b(response, where: str) -> None:
    assert response.status_code != 500, where
    body = b"".join(response.streaming_content) if getattr(response, "streaming", False) else response.content
    text = body.decode("utf-8", "replace")
    found = [m for m in MARKERS if m in text]
    assert not found, f"{where} shows {found}"
    for header in ("Location", "HX-Redirect"):
        assert MARK not in response.get(header, ""), where


def walk(client, w: dict, label: str) -> int:
    requests_made = 0
    for name, params in exams_urls():
        for url in url_variants(name, params, w):
            for method, htmx, query in itertools.product(("get", "post"), (False, True), ("", "?since=0&q=Zq7")):
                headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
                data = {"base": "tampered-version-token", "duration": "45", "_field": "duration", "action": "save",
                        "title": "x", "idempotency_key": w["key"], "item": "1", "configuration": w["other"].sid,
                        "course": w["other"].course_sid} if method == "post" else None
                response = getattr(client, method)(url + query, data, **headers) if data else \
                    getattr(client, method)(url + query, **headers)
                assert_nothing_of_b(response, f"{label}: {method.upper()} {url}{query} htmx={htmx}")
                requests_made += 1
    return requests_made


def test_an_outsider_sees_nothing_of_another_courses_exam_anywhere(client_for, outsider_world, clean_sandbox):
    client = client_for(outsider_world["outsider"])
    assert walk(client, outsider_world, "cached") > 100


def test_nor_when_the_upstream_is_down_or_the_cache_does_not_know_the_exam(client_for, outsider_world,
                                                                            clean_sandbox):
    from proctordash.appointments.models import Exam
    from proctordash.exams.models import CachedConfiguration

    client = client_for(outsider_world["outsider"])
    # the cache does not know B's exam: the live read (with course A in the path) is the only guard left
    Exam.objects.filter(sid=outsider_world["other"].exam_sid).delete()
    CachedConfiguration.objects.all().delete()
    walk(client, outsider_world, "uncached")
    clean_sandbox.set_faults(smarterproctoring={"error_rate": 1.0, "error_statuses": [503]})
    walk(client, outsider_world, "upstream down")


def test_nor_through_a_configuration_the_upstream_does_not_know(client_for, outsider_world, clean_sandbox):
    own = outsider_world["own"]
    unknown = Picked(own.course_sid, outsider_world["other"].exam_sid, "EC" + uuid.uuid4().hex)
    client = client_for(outsider_world["outsider"])
    for method in ("get", "post"):
        response = getattr(client, method)(unknown.url, {"base": "x"} if method == "post" else None)
        assert response.status_code == 404
        assert_nothing_of_b(response, f"not found {method}")
