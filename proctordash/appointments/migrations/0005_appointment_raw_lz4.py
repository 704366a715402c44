"""PostgreSQL: compress the appointments' raw JSON with lz4 instead of pglz.

Each raw record is ≈ 4 KB, so PostgreSQL compresses it (TOAST) on every write of the sync; lz4 does that several
times faster than the default pglz for a similar size. Only values written from now on use it. Nothing on SQLite,
or where the server was built without lz4 (before PostgreSQL 14, or a build without it): there it keeps pglz.
"""

from django.db import DatabaseError, migrations, transaction


def raw_lz4(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql" or connection.pg_version < 140000:
        return
    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute("ALTER TABLE appointments_appointment ALTER COLUMN raw SET COMPRESSION lz4")
    except DatabaseError:  # a server without lz4 keeps pglz; nothing else depends on it
        pass


class Migration(migrations.Migration):

    dependencies = [
        ("appointments", "0004_appointment_indexes_for_the_pages"),
    ]

    operations = [
        migrations.RunPython(raw_lz4, migrations.RunPython.noop, elidable=True),
    ]
