"""Real data for the accessibility tests: the sandbox's seeded world synced into the cache (so tables are not empty),
and the exams tests' configuration picks."""

from __future__ import annotations

import pytest

from tests.exams.conftest import cfg, clean_sandbox, sp, world  # noqa: F401


@pytest.fixture
def synced(sandbox):
    from proctordash.sync.passes import appointments_refresh
    from proctordash.sync import engine as sync
    from proctordash.sync.passes import proctorexam_refresh

    sandbox.set_faults()
    sandbox.reset()
    client = sync.redis_client()
    for key in client.scan_iter(f"{sync.KEY_PREFIX}*"):
        client.delete(key)
    appointments_refresh()
    proctorexam_refresh()
    return sandbox
