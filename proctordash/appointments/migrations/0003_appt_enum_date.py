# Added by the appointments screens (docs/appointments-indexes.md): one covering index for the list's enum filters.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('appointments', '0002_course_offerings'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='appointment',
            index=models.Index(fields=['status', 'review_status', 'session_type', 'appointment_date', 'removed_at'],
                               name='appt_enum_date'),
        ),
    ]
