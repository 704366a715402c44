"""SyncRun and UpstreamState moved from the monitoring app to the sync app without losing a row (sync/0001 and
monitoring/0003: SeparateDatabaseAndState, same tables). CI runs this on PostgreSQL."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("monitoring", "0002_syncrun_queued_requests_notes"), ("sync", None)]
BEFORE_STATE = [("monitoring", "0002_syncrun_queued_requests_notes"), ("contenttypes", "0002_remove_content_type_name")]


def _migrate(targets, state_at=None):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state(state_at or targets).apps


def test_a_populated_database_migrates_forward_with_every_row_kept():
    old = _migrate(BEFORE, state_at=BEFORE_STATE)
    OldRun, OldState = old.get_model("monitoring", "SyncRun"), old.get_model("monitoring", "UpstreamState")
    ContentType = old.get_model("contenttypes", "ContentType")
    ContentType.objects.get_or_create(app_label="monitoring", model="syncrun")
    now = timezone.now()
    for i in range(25):
        OldRun.objects.create(kind="appointments_full", upstream="smarterproctoring", started_at=now - timedelta(hours=i),
                              outcome="success", records_seen=1000 + i, notes=f"run {i}")
    OldState.objects.create(upstream="smarterproctoring", last_success_at=now, consecutive_failures=2,
                            last_error="SmarterProctoring did not answer")
    ids = sorted(OldRun.objects.values_list("id", flat=True))

    executor = MigrationExecutor(connection)
    _migrate(executor.loader.graph.leaf_nodes())

    from proctordash.sync.models import SyncRun, UpstreamState

    assert sorted(SyncRun.objects.values_list("id", flat=True)) == ids
    assert SyncRun.objects.get(notes="run 7").records_seen == 1007
    state = UpstreamState.objects.get(upstream="smarterproctoring")
    assert state.consecutive_failures == 2 and state.last_error == "SmarterProctoring did not answer"
    assert SyncRun._meta.db_table == "monitoring_syncrun"  # the same table: nothing was copied
    # the content type followed the model (admin log entries and permissions point at it)
    from django.contrib.contenttypes.models import ContentType as CT

    assert CT.objects.filter(app_label="sync", model="syncrun").exists()
    assert not CT.objects.filter(app_label="monitoring", model="syncrun").exists()
    # and a new run can be written through the sync app's model
    SyncRun.objects.create(kind="proctorexam", upstream="proctorexam", started_at=now)
    assert SyncRun.objects.count() == 26
