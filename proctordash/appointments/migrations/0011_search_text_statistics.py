"""A finer statistics sample for search_text (PostgreSQL only): 1,000 histogram entries instead of the default 100.

The text filters (`q`, learner name / e-mail, course and exam title) test `search_text LIKE '%…%'`, which the planner
estimates from search_text's histogram. With 100 entries (99 used) a rare value such as a learner's surname was
estimated at 1 % of the table (10,101 of 1,000,000 rows; 1,239 trigram candidates in fact), so PostgreSQL also read
the date range of the list's window as a second bitmap (272,705 entries from `appt_live_date_sid` for "from today
on") and ANDed the two: 25 ms per query at 1,000,000 appointments, growing with the table, twice per page (count and
rows). With 1,000 entries the same value is estimated at 2,002 rows and read through the trigram index alone
(benchmarks/bench_list_scale.py; docs/benchmarks.md, "Appointments list at 1,000,000"). Costs: ANALYZE of the table
samples 300,000 rows instead of 30,000 (a few seconds at 1,000,000 appointments, in autovacuum's background).
The ANALYZE here makes it take effect at once rather than at the next autoanalyze.
"""

from django.db import migrations

TABLE = "appointments_appointment"


def finer(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN search_text SET STATISTICS 1000")
    schema_editor.execute(f"ANALYZE {TABLE} (search_text)")


def default(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN search_text SET STATISTICS -1")


class Migration(migrations.Migration):

    dependencies = [
        ("appointments", "0010_appointment_undated_sid"),
    ]

    operations = [
        migrations.RunPython(finer, default),
    ]
