"""When beat starts, upstreams with missing or stale data get a refresh queued at once (once, not twice)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from proctordash.celery import app
from proctordash.sync.startup import refresh_stale_data
from proctordash.sync.models import SyncRun, UpstreamState

pytestmark = pytest.mark.django_db(transaction=True)


def _clear_requests() -> None:
    from proctordash.sync.engine import KEY_PREFIX, redis_client

    app.control.purge()
    client = redis_client()
    for key in client.scan_iter(f"{KEY_PREFIX}*"):
        client.delete(key)


@pytest.fixture(autouse=True)
def no_leftover_requests():
    """Start from no queued request or lock (earlier tests in the run may leave some), and leave none behind for a
    worker that a later test starts."""
    _clear_requests()
    yield
    _clear_requests()


def test_missing_data_queue_one_refresh_per_upstream_and_not_twice():
    assert sorted(refresh_stale_data()) == ["appointments_full", "proctorexam"]
    queued = SyncRun.objects.filter(outcome=SyncRun.Outcome.QUEUED)
    assert sorted(queued.values_list("kind", flat=True)) == ["appointments_full", "proctorexam"]
    refresh_stale_data()  # a second beat start, or a restart, while those are queued
    assert SyncRun.objects.count() == 2


def test_fresh_data_queue_nothing():
    now = timezone.now()
    for upstream in ("smarterproctoring", "proctorexam"):
        UpstreamState.objects.create(upstream=upstream, last_success_at=now - timedelta(seconds=30))
    assert refresh_stale_data() == []
    assert not SyncRun.objects.exists()
