"""Remove the unkeyed exam-password digests stored before password digests became keyed.

Until now a password was stored as "sha256:" + sha256("proctordash-config-password:" + password)[:24]: no key, no
salt, so anyone with a database dump recovers every password by brute force (the upstream's are six hex digits:
seconds). The code now stores an HMAC-SHA256 under SECRET_KEY ("hmac256:…", exams/fields.py). A stored digest
cannot be turned into the new one without the password, so each legacy digest is replaced by DIGEST_REMOVED
("hmac256:removed", which matches no password and no digest; the code reads it as "a password is set, which one is
not known"), and every hash computed over a legacy digest goes too: a hash of the configuration's values with the
other values in the same row is as easy to brute-force as the digest itself.

- CachedConfiguration: raw["password"] becomes DIGEST_REMOVED and values_hash HASH_REMOVED (matches no
  configuration). The row is kept, not deleted: it is also the fallback copy while SmarterProctoring is down, a
  drift candidate, a row of the accommodation register, the exam index and the bulk-change picker, and deleting it
  would empty those until each configuration is read again. What it costs: each of these configurations looks
  changed to the next read (one extra read and the drift check's confirmation wait), and for that one comparison
  the password has no baseline, so a password changed outside ProctorDash since the last read before this
  migration is not reported as a change made outside (the other fields are compared as before). The read stores a
  comparable digest again.
- ConfigurationSave (finished or still pending): the password in base_values and in changes, and base_hash. A
  pending save without a new password goes on (its base password cannot be compared, and the save sends the
  upstream's current one); one with a new password ends as "not applied" (not sent) or "outcome unknown" (sent),
  never "saved" (exams/services.py _verify_save).
- BulkChangeItem: the password in base_values, and base_hash when set (an item stays previewed; applying it still
  compares every other field with the live configuration and keeps the upstream's current password).
- BulkChange.change holds no password (its kinds are permit, extend_close, duration, attempts) and is left alone.

Not reversible in substance: migrating back leaves DIGEST_REMOVED and the keyed digests in place (reverse is a
no-op).
"""

from django.db import migrations

LEGACY_PREFIX = "sha256:"
DIGEST_REMOVED = "hmac256:removed"  # fields.DIGEST_REMOVED: the code recognises this value for good
HASH_REMOVED = "removed:unkeyed-password-digest"


def _legacy(value) -> bool:
    return isinstance(value, str) and value.startswith(LEGACY_PREFIX)


def _scrubbed(values):
    """A copy of a values dict with a legacy password digest replaced, or None when it holds none."""
    if isinstance(values, dict) and _legacy(values.get("password")):
        return {**values, "password": DIGEST_REMOVED}
    return None


def remove_legacy_digests(apps, schema_editor):
    CachedConfiguration = apps.get_model("exams", "CachedConfiguration")
    ConfigurationSave = apps.get_model("exams", "ConfigurationSave")
    BulkChangeItem = apps.get_model("exams", "BulkChangeItem")

    for pk, raw in CachedConfiguration.objects.values_list("pk", "raw").iterator(chunk_size=500):
        raw = _scrubbed(raw)
        if raw is not None:
            CachedConfiguration.objects.filter(pk=pk).update(raw=raw, values_hash=HASH_REMOVED)

    for pk, base_values, changes, base_hash in ConfigurationSave.objects.values_list(
            "pk", "base_values", "changes", "base_hash").iterator(chunk_size=500):
        new_base, new_changes = _scrubbed(base_values), _scrubbed(changes)
        if new_base is None and new_changes is None:
            continue
        ConfigurationSave.objects.filter(pk=pk).update(
            base_values=base_values if new_base is None else new_base,
            changes=changes if new_changes is None else new_changes,
            base_hash=HASH_REMOVED if base_hash else "")

    for pk, base_values, base_hash in BulkChangeItem.objects.values_list(
            "pk", "base_values", "base_hash").iterator(chunk_size=500):
        new_base = _scrubbed(base_values)
        if new_base is not None:
            BulkChangeItem.objects.filter(pk=pk).update(base_values=new_base,
                                                        base_hash=HASH_REMOVED if base_hash else "")


class Migration(migrations.Migration):

    dependencies = [
        ("exams", "0006_configuration_saves"),
    ]

    operations = [
        migrations.RunPython(remove_legacy_digests, migrations.RunPython.noop, elidable=False),
    ]
