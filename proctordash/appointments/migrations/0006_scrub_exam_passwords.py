"""Remove the exam passwords that earlier syncs stored in the appointments' raw JSON (examConfiguration.password).

From now on the sync scrubs each record before it hashes and stores it (appointments/mapping.py `scrub_secrets`);
this rewrites the rows stored before, with the content hash of the scrubbed record, so the next pass finds them
unchanged and writes nothing. The password is replaced by the same marker the sync writes ("[not stored]"), so the
detail page still says whether one is set. Batched by primary key, so 1,000,000 rows never sit in memory at once.
"""

import hashlib
import json

import orjson
from django.db import migrations

PASSWORD_NOT_STORED = "[not stored]"  # as appointments/mapping.py; frozen here so the migration never changes
BATCH = 2000


def _canonical(raw):
    # the sync's canonical JSON (sync/upsert.py _canonical_bytes), frozen here for the same reason
    try:
        return orjson.dumps(raw, default=str, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def scrub(apps, schema_editor):
    Appointment = apps.get_model("appointments", "Appointment")
    db = schema_editor.connection.alias
    rows = Appointment.objects.using(db).order_by("pk")
    if schema_editor.connection.vendor == "postgresql":
        # only the rows holding a password (a jsonb key lookup); SQLite reads them all, in batches
        rows = rows.filter(raw__examConfiguration__password__isnull=False)
    last = None
    while True:
        batch = rows.filter(pk__gt=last) if last is not None else rows
        batch = list(batch.only("pk", "raw", "content_hash")[:BATCH])
        if not batch:
            return
        changed = []
        for row in batch:
            raw = row.raw
            config = raw.get("examConfiguration") if isinstance(raw, dict) else None
            if isinstance(config, dict) and config.get("password") not in (None, "", PASSWORD_NOT_STORED):
                row.raw = {**raw, "examConfiguration": {**config, "password": PASSWORD_NOT_STORED}}
                row.content_hash = hashlib.sha256(_canonical(row.raw)).hexdigest()
                changed.append(row)
        if changed:
            Appointment.objects.using(db).bulk_update(changed, ["raw", "content_hash"], batch_size=500)
        last = batch[-1].pk


class Migration(migrations.Migration):

    dependencies = [
        ("appointments", "0005_appointment_raw_lz4"),
    ]

    operations = [
        migrations.RunPython(scrub, migrations.RunPython.noop, elidable=True),
    ]
