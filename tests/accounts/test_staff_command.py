import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from proctordash.accounts.models import CourseAssignment, StaffProfile
from tests.conftest import COURSE_A, COURSE_B, sign_in

pytestmark = pytest.mark.django_db


def run(*args, stdin: str | None = None, monkeypatch=None):
    out = io.StringIO()
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    call_command("staff", *args, stdout=out)
    return out.getvalue()


def test_add_instructor_with_courses_and_password_from_stdin(monkeypatch, client):
    out = run("add", "ivy", "--role", "instructor", "--course", COURSE_A, "--course", COURSE_B, "--password-stdin",
              stdin="a-long-enough-password\n", monkeypatch=monkeypatch)
    assert out.strip() == "Created ivy (instructor)"
    user = get_user_model().objects.get(username="ivy")
    assert user.staff_profile.role == "instructor"
    assert set(CourseAssignment.objects.filter(user=user).values_list("course_sid", flat=True)) == {COURSE_A, COURSE_B}
    assert sign_in(client, "ivy", "a-long-enough-password")


def test_add_without_password_prints_a_generated_one_once(client):
    out = run("add", "cole", "--role", "coordinator")
    password = out.split("Password (shown once): ")[1].strip()
    assert sign_in(client, "cole", password)
    again = run("add", "cole", "--role", "support")
    assert again.strip() == "Updated cole (support)"
    assert StaffProfile.objects.get(user__username="cole").role == "support"
    assert sign_in(client, "cole", password), "updating the role must keep the password"


@pytest.mark.parametrize(
    "args,field",
    [
        (["add", "x", "--role", "instructor", "--course", "CU123"], "course"),
        (["add", "x", "--role", "support", "--course", COURSE_A], "course"),
    ],
)
def test_bad_arguments_name_the_field_and_write_nothing(args, field):
    with pytest.raises(CommandError, match=field):
        run(*args)
    assert not get_user_model().objects.filter(username="x").exists()


def test_unknown_role_is_refused():
    with pytest.raises(CommandError, match="role"):
        run("add", "x", "--role", "admin")


def test_weak_password_is_refused(monkeypatch):
    with pytest.raises(CommandError, match="password"):
        run("add", "x", "--role", "support", "--password-stdin", stdin="short\n", monkeypatch=monkeypatch)
    assert not get_user_model().objects.filter(username="x").exists()


def test_list(monkeypatch):
    run("add", "ivy", "--role", "instructor", "--course", COURSE_A)
    run("add", "sam", "--role", "support")
    lines = run("list").splitlines()
    assert lines[0].split() == ["ivy", "instructor", COURSE_A]
    assert lines[1].split() == ["sam", "support"]
