"""SyncRun and UpstreamState now belong to the sync app (sync/0001 took them over): forget them here, in Django's
model state only. The tables and their rows stay; the sync app's models use them under the same names."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("monitoring", "0002_syncrun_queued_requests_notes"),
        ("sync", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="SyncRun"),
                migrations.DeleteModel(name="UpstreamState"),
            ],
            database_operations=[],
        ),
    ]
