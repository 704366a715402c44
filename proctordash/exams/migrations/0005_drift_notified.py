"""When support was e-mailed about a change made outside ProctorDash (the drift check notifies each change once).

Changes recorded before this existed count as notified: turning the check on must not e-mail old history.
"""

from django.db import migrations, models
from django.db.models.functions import Now


def old_outside_changes_are_not_news(apps, schema_editor):
    ConfigurationChange = apps.get_model("exams", "ConfigurationChange")
    ConfigurationChange.objects.filter(source="outside", notified_at__isnull=True).update(notified_at=Now())


class Migration(migrations.Migration):

    dependencies = [
        ('exams', '0004_bulk_jobs'),
    ]

    operations = [
        migrations.AddField(
            model_name='configurationchange',
            name='notified_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(old_outside_changes_are_not_news, migrations.RunPython.noop),
    ]
