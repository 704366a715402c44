from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = [migrations.swappable_dependency(settings.AUTH_USER_MODEL)]
    operations = [
        migrations.CreateModel(
            name="Person",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("claims", models.JSONField(blank=True, default=dict)),
                ("user", models.OneToOneField(on_delete=models.deletion.CASCADE, related_name="person",
                                              to=settings.AUTH_USER_MODEL)),
            ],
        ),
    ]
