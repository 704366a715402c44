"""The learner's booked slot as a column (the monitor's "starting within the hour" group reads it in SQL), filled
from the raw JSON the cache already holds: a row is only rewritten by the sync when its upstream record changes, so
without this step unchanged rows would never get it."""

from datetime import datetime, timezone

from django.db import migrations, models


def _parse(value):
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def fill_reservation_time(apps, schema_editor):
    StudentSession = apps.get_model("monitoring", "StudentSession")
    batch = []
    for row in StudentSession.objects.only("id", "raw").iterator(chunk_size=2000):
        raw = row.raw if isinstance(row.raw, dict) else {}
        value = _parse(raw.get("reservation_time"))
        if value is not None:
            row.reservation_time = value
            batch.append(row)
        if len(batch) >= 2000:
            StudentSession.objects.bulk_update(batch, ["reservation_time"])
            batch = []
    if batch:
        StudentSession.objects.bulk_update(batch, ["reservation_time"])


class Migration(migrations.Migration):

    dependencies = [
        ("monitoring", "0003_syncrun_upstreamstate_moved_to_sync"),
    ]

    operations = [
        migrations.AddField(
            model_name="studentsession",
            name="reservation_time",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(fill_reservation_time, migrations.RunPython.noop),
    ]
