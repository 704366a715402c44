"""History rows of bulk changes: source "bulk" and a link to their bulk change.

Bulk changes used to be recorded with source "dashboard" and a reason "Bulk change #<id>: …", so
/exams/history/?source=bulk showed nothing. Those rows are moved to source "bulk" and linked here.
"""

import re

import django.db.models.deletion
from django.db import migrations, models

BULK_REASON = re.compile(r"^Bulk change #(\d+): ")


def bulk_rows_to_bulk_source(apps, schema_editor):
    ConfigurationChange = apps.get_model("exams", "ConfigurationChange")
    BulkChange = apps.get_model("exams", "BulkChange")
    known = set(BulkChange.objects.values_list("pk", flat=True))
    for change in ConfigurationChange.objects.filter(source="dashboard", reason__startswith="Bulk change #").iterator():
        match = BULK_REASON.match(change.reason)
        if match is None:
            continue
        bulk_id = int(match.group(1))
        ConfigurationChange.objects.filter(pk=change.pk).update(
            source="bulk", bulk_id=bulk_id if bulk_id in known else None)


class Migration(migrations.Migration):

    dependencies = [
        ('exams', '0002_bulk_change'),
    ]

    operations = [
        migrations.AddField(
            model_name='configurationchange',
            name='bulk',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='history', to='exams.bulkchange'),
        ),
        migrations.AlterField(
            model_name='configurationchange',
            name='exam_sid',
            field=models.CharField(db_index=True, max_length=34),
        ),
        migrations.RunPython(bulk_rows_to_bulk_source, migrations.RunPython.noop),
    ]
