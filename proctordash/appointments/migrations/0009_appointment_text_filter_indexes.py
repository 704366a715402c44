"""Indexes for the appointment list's text filters (selectors.appointment_filter).

- appt_learner_sid_search (every database): the learnerSid filter given a whole SID, which then means `= value`.
- appt_search_trgm (PostgreSQL only, so not in the model's Meta): a pg_trgm GIN index on search_text. `contains`
  (LIKE '%…%') is served by no btree; with this index a word of three or more characters is found through the
  trigrams of the search text. It serves the `q` box, and the learner name, e-mail, course title and exam title
  filters, which also test search_text (it holds each of those fields: a match in one of them is a match in it).
  pg_trgm is a trusted extension (PostgreSQL 13+): the database's owner may create it.
"""

from django.db import migrations, models


def search_trgm(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute("CREATE INDEX IF NOT EXISTS appt_search_trgm ON appointments_appointment "
                          "USING gin (search_text gin_trgm_ops)")


def drop_search_trgm(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS appt_search_trgm")


class Migration(migrations.Migration):

    dependencies = [
        ("appointments", "0008_appointment_live_date_sid"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="appointment",
            index=models.Index(fields=["learner_sid_search"], name="appt_learner_sid_search"),
        ),
        migrations.RunPython(search_trgm, drop_search_trgm),
    ]
