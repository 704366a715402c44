"""`manage.py demo_setup` (run by `make demo`): var/demo.env holds the generated settings and — as comment lines
honcho ignores — every demo password, and nothing else holds them; a second run keeps them; a demo.env of an earlier
version gets what it lacks."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from tests.core.test_settings import ROOT

pytestmark = pytest.mark.slow


def demo_setup(var) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OIDC_", "SMARTERPROCTORING_",
                                                                     "PROCTOREXAM_", "DATABASE_", "REDIS_"))}
    env.update({"DJANGO_DEBUG": "true", "PROCTORDASH_VAR_DIR": str(var)})
    result = subprocess.run([sys.executable, "manage.py", "demo_setup"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def check_password(var, username: str, password: str) -> bool:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env.update({"DJANGO_DEBUG": "true", "PROCTORDASH_VAR_DIR": str(var)})
    code = ("from django.contrib.auth import get_user_model as g; import sys; "
            f"sys.exit(0 if g().objects.get(username={username!r}).check_password(sys.stdin.read()) else 3)")
    return subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, input=password,
                          capture_output=True, text=True, timeout=120).returncode == 0


def passwords(env_file) -> dict[str, str]:
    from proctordash.demo.management.commands.demo_setup import read_env

    return {f"{kind}:{name}": pw for (kind, name), pw in read_env(env_file)[1].items()}


def test_demo_passwords_are_in_var_demo_env_and_nowhere_else(tmp_path):
    var = tmp_path / "var"
    demo_setup(var)
    env_file = var / "demo.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    found = passwords(env_file)
    assert set(found) == {"local:coordinator", "local:instructor", "local:support", "university:olivia",
                          "university:ivan", "university:sue", "university:stu"}
    assert check_password(var, "instructor", found["local:instructor"])
    text = env_file.read_text()
    assert "OIDC_ISSUER=http://127.0.0.1:8200/o" in text and "OIDC_CLIENT_SECRET=" in text
    # honcho reads the settings and skips the password comments
    from honcho.environ import parse

    parsed = parse(text)
    assert parsed["OIDC_PROVIDER_NAME"] == "Example University (demo)"
    assert not any(pw in parsed.values() for pw in found.values())
    # no other file of var/ holds a password in clear (the provider keeps only hashes)
    for path in var.rglob("*"):
        if path.is_file() and path != env_file:
            data = path.read_bytes()
            assert not any(pw.encode() in data for pw in found.values()), path

    demo_setup(var)  # again: nothing changes
    assert passwords(env_file) == found


def test_a_demo_env_of_an_earlier_version_gets_what_it_lacks(tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    demo_setup(var)
    env_file = var / "demo.env"
    old = "\n".join(line for line in env_file.read_text().splitlines()
                    if not line.startswith(("#", "OIDC_"))) + "\n"  # as the earlier version wrote it
    secret_key = next(line for line in old.splitlines() if line.startswith("DJANGO_SECRET_KEY="))
    env_file.write_text(old)
    demo_setup(var)
    text = env_file.read_text()
    assert secret_key in text and "OIDC_ISSUER=" in text  # kept what was there, added what was missing
    found = passwords(env_file)
    assert check_password(var, "coordinator", found["local:coordinator"])  # reset, and written down
