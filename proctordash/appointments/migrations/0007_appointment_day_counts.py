"""The per-day × status counts the appointment list reads (appointments/counts.py) and their state row.

The counts are filled after `migrate` by the post_migrate handler in apps.py (from the rows, in the dashboard's
zone), not here: the recount uses the app's current code. On PostgreSQL the counts table keeps 30 % of each page
free, so that the sync's `n = n + delta` updates stay on their page (HOT) and the counts of one filter value stay
together on disk.
"""

from django.db import migrations, models


def fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE appointments_appointmentdaycount SET (fillfactor = 70)")


class Migration(migrations.Migration):

    dependencies = [
        ('appointments', '0006_scrub_exam_passwords'),
    ]

    operations = [
        migrations.CreateModel(
            name='AppointmentCountsState',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('zone', models.CharField(max_length=64)),
                ('rebuilt_at', models.DateTimeField()),
            ],
        ),
        migrations.CreateModel(
            name='AppointmentDayCount',
            fields=[
                ('pk', models.CompositePrimaryKey('dim', 'value', 'day', 'status', blank=True, editable=False, primary_key=True, serialize=False)),
                ('dim', models.CharField(max_length=12)),
                ('value', models.CharField(blank=True, max_length=64)),
                ('day', models.DateField()),
                ('status', models.CharField(blank=True, max_length=30)),
                ('n', models.IntegerField()),
            ],
        ),
        migrations.RunPython(fillfactor, migrations.RunPython.noop),
    ]
