"""Helpers the sync services share to turn untrusted upstream JSON into rows and write them idempotently."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

import orjson
from django.db import connection, models
from django.utils import timezone as dj_timezone


def _canonical_bytes(raw: Any) -> bytes:
    """The canonical JSON as UTF-8: keys sorted, no spaces, non-ASCII as is. orjson writes exactly what
    `json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)` writes for JSON-decoded data, about 5×
    faster (it was a fifth of a sync's time); the standard library covers what orjson refuses (integers beyond 64
    bits, non-string keys)."""
    try:
        return orjson.dumps(raw, default=str, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def canonical_json(raw: Any) -> str:
    return _canonical_bytes(raw).decode()


def content_hash(raw: Any) -> str:
    """sha256 of the canonical JSON: the same record always hashes the same, whatever its key order."""
    return hashlib.sha256(_canonical_bytes(raw)).hexdigest()


def hashed_raw(raw: Any) -> tuple[Any, str, str]:
    """(raw without NULs, its canonical JSON, its content hash) with one serialisation in the common case."""
    data = _canonical_bytes(raw)
    if b"\\u0000" in data:  # rare: a NUL (or a literal backslash-u0000) somewhere
        raw = _strip_nul(raw)
        data = _canonical_bytes(raw)
    return raw, data.decode(), hashlib.sha256(data).hexdigest()


def _strip_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_strip_nul(k): _strip_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_nul(v) for v in value]
    return value


def clean_raw(raw: Any) -> Any:
    """PostgreSQL's jsonb (and text) refuse NUL characters; an upstream string with one must not sink a page."""
    return _strip_nul(raw) if b"\\u0000" in _canonical_bytes(raw) else raw


def text(value: Any, max_length: int) -> str:
    """A column value from untrusted input: str, no NULs, never longer than the column (PostgreSQL enforces it)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        value = str(value)
    return value.replace("\x00", "")[:max_length]


def parse_datetime(value: Any) -> datetime | None:
    """ISO 8601 (with Z or an offset) → aware UTC datetime; anything unreadable → None (the raw JSON keeps it)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        s = value.strip()
        if s.endswith(("Z", "z")):
            s = s[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(s)
        except ValueError:
            return None
    else:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    try:
        dt = dt.astimezone(timezone.utc)
    except OverflowError:  # 0001-01-01T00:00+05:00 has no UTC time
        return None
    if not _FIRST_LOCAL <= dt <= _LAST_LOCAL:
        return None
    return dt


# An upstream's 0001-01-01 or 9999-12-31 has no local day in some zones (Python's calendar ends there; a count by
# local day or a page in the dashboard's zone would overflow): outside these bounds a date is unreadable → None.
_FIRST_LOCAL = datetime(1, 1, 2, tzinfo=timezone.utc)
_LAST_LOCAL = datetime(9999, 12, 30, tzinfo=timezone.utc)


def parse_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -(2**31) <= value < 2**31 else None
    if isinstance(value, float) and value.is_integer():
        return parse_int(int(value))
    if isinstance(value, str) and value.strip().lstrip("-").isdecimal():
        return parse_int(int(value.strip()))
    return None


def obj(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _column_adapters(model: type[models.Model], fields: list[str]):
    """Per column: (quoted name, placeholder, adapter or None). Only dates and JSON need converting; everything else
    goes to the driver as is."""
    vendor = connection.vendor
    out = []
    for name in fields:
        field = model._meta.get_field(name)
        internal = field.get_internal_type()
        placeholder, adapt = "%s", None
        if internal == "DateTimeField":
            # PostgreSQL's driver takes aware datetimes as they are; SQLite stores naive UTC text (what Django's
            # adapt_datetimefield_value writes, without its per-value settings lookups)
            adapt = None if vendor == "postgresql" else _sqlite_datetime
        elif internal == "JSONField":
            adapt = canonical_json
            if vendor == "postgresql":
                placeholder = "CAST(%s AS jsonb)"
        out.append((connection.ops.quote_name(field.column), placeholder, adapt, name))
    return out


def _sqlite_datetime(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return str(value)


def stored_values(model: type[models.Model], key: str, fields: list[str], keys: list[Any]) -> dict[Any, tuple]:
    """key → (fields...) of the stored rows among `keys`, read with plain SQL in chunks of 500 (the ORM's `__in`
    prepared every parameter in Python: a tenth of a sync's time). Values come as the driver returns them (on
    SQLite a datetime is text): compare them for equality with care."""
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(model._meta.get_field(f).column) for f in [key, *fields])
    key_column = connection.ops.quote_name(model._meta.get_field(key).column)
    out: dict[Any, tuple] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            cursor.execute(f"SELECT {columns} FROM {table} WHERE {key_column} IN ({', '.join(['%s'] * len(chunk))})",
                           chunk)
            for values in cursor.fetchall():
                out[values[0]] = tuple(values[1:])
    return out


def bulk_upsert(model: type[models.Model], rows: Iterable[dict], *, key: str, compare: list[str],
                keep: tuple[str, ...] = ("first_seen_at",),
                existing: dict[Any, tuple] | None = None) -> tuple[int, int, list[Any]]:
    """Insert new rows and rewrite changed ones with one INSERT … ON CONFLICT (key) DO UPDATE statement run with
    executemany (SQLite ≥ 3.24 and PostgreSQL); unchanged rows are not touched.

    `rows` are dicts of field values including `key` (a "_raw_text" entry, if present, is the already serialised
    JSON of "raw"); a row counts as changed when any field in `compare` differs from the stored one (e.g.
    content_hash and removed_at). `existing` (key → stored `compare` values) saves the lookup when the caller has
    read them already. Fields in `keep` (first_seen_at) are set on insert only. Duplicate keys within
    `rows` keep the last (an upstream page shifting under offset paging can repeat a record). Returns
    (created, updated, keys written).

    Why not bulk_create(update_conflicts=True): Django's SQLite backend caps a statement at 999 parameters, so a page
    of 35-column rows became ~20 INSERTs each compiled field by field, which made the database the bottleneck.
    """
    unique: dict[Any, dict] = {}
    for row in rows:
        unique[row[key]] = row
    if not unique:
        return 0, 0, []
    if existing is None:
        existing = {}
        keys = list(unique)
        for start in range(0, len(keys), 500):
            for values in model.objects.filter(**{f"{key}__in": keys[start:start + 500]}).values_list(key, *compare):
                existing[values[0]] = tuple(values[1:])
    created = updated = 0
    write = []
    for k, row in unique.items():
        if k not in existing:
            created += 1
        elif existing[k] != tuple(row[f] for f in compare):
            updated += 1
        else:
            continue
        write.append(row)
    if write:
        now = dj_timezone.now()
        names = [f for f in write[0] if not f.startswith("_")]
        names += [f for f in keep if f not in names and _has_field(model, f)]
        columns = _column_adapters(model, names)
        updates = [c for c in columns if c[3] != key and c[3] not in keep]
        sql = (f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} "
               f"({', '.join(c[0] for c in columns)}) VALUES ({', '.join(c[1] for c in columns)}) "
               f"ON CONFLICT ({connection.ops.quote_name(model._meta.get_field(key).column)}) DO UPDATE SET "
               + ", ".join(f"{c[0]} = EXCLUDED.{c[0]}" for c in updates))
        params = []
        for row in write:
            values = []
            for _col, _ph, adapt, name in columns:
                if name == "raw" and "_raw_text" in row:
                    values.append(row["_raw_text"])
                    continue
                value = row.get(name, now) if name in keep else row[name]
                values.append(adapt(value) if adapt is not None and value is not None else value)
            params.append(values)
        if connection.vendor == "postgresql" and len(params) >= COPY_MIN_ROWS:
            # New rows (most of a first sync) go straight into the table with COPY: no temporary table, no
            # conflict check, and the JSON is parsed and compressed once. Should another pass have inserted one of
            # them meanwhile, the COPY is undone and they take the upsert below with the changed rows.
            new, stored = [], []
            for values, row in zip(params, write):
                (stored if row[key] in existing else new).append(values)
            if len(new) >= COPY_MIN_ROWS and _copy_insert(model, columns, new):
                params = stored
            if params:
                _copy_upsert(model, columns, updates, key, params)
        else:
            with connection.cursor() as cursor:
                for start in range(0, len(params), 500):
                    cursor.executemany(sql, params[start:start + 500])
    return created, updated, [row[key] for row in write]


COPY_MIN_ROWS = 50  # below this, executemany's round trips cost less than the temporary table


def _copy_insert(model: type[models.Model], columns: list, params: list[list]) -> bool:
    """PostgreSQL: COPY rows that are not in the table yet straight into it, in a savepoint. False, with nothing
    written, when one of them is there after all (a unique violation): the caller upserts them instead."""
    import psycopg
    from django.db import IntegrityError, transaction

    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(c[0] for c in columns)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for values in params:
                    copy.write_row(values)
    except (psycopg.errors.UniqueViolation, IntegrityError):
        return False
    return True


def _copy_upsert(model: type[models.Model], columns: list, updates: list, key: str, params: list[list]) -> None:
    """PostgreSQL: COPY the rows into a temporary table (one stream, no per-row statement; the JSON text is parsed
    into jsonb by the server as it arrives), then one INSERT … SELECT … ON CONFLICT DO UPDATE for all of them.
    The temporary table lives as long as the connection and empties at every commit."""
    from django.db import transaction

    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(c[0] for c in columns)
    temp = connection.ops.quote_name(f"upsert_{model._meta.db_table}_{len(columns)}")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [f"pg_temp.{temp}"])
        if cursor.fetchone()[0] is None:  # first use on this connection (temporary tables live as long as it)
            cursor.execute(f"CREATE TEMPORARY TABLE {temp} ON COMMIT DELETE ROWS AS "
                           f"SELECT {names} FROM {table} WITH NO DATA")
            # JSON kept uncompressed in the temporary table: a compressed value would be copied into the real
            # table as it is (with pglz, whatever the column's own compression), and compressing twice costs
            for column, _ph, _adapt, name in columns:
                if model._meta.get_field(name).get_internal_type() == "JSONField":
                    cursor.execute(f"ALTER TABLE {temp} ALTER COLUMN {column} SET STORAGE EXTERNAL")
        else:
            cursor.execute(f"TRUNCATE {temp}")  # an earlier call in the same transaction may have left rows
        with cursor.cursor.copy(f"COPY {temp} ({names}) FROM STDIN") as copy:
            for values in params:
                copy.write_row(values)
        cursor.execute(
            f"INSERT INTO {table} ({names}) SELECT {names} FROM {temp} "
            f"ON CONFLICT ({connection.ops.quote_name(model._meta.get_field(key).column)}) DO UPDATE SET "
            + ", ".join(f"{c[0]} = EXCLUDED.{c[0]}" for c in updates))


def _has_field(model: type[models.Model], name: str) -> bool:
    try:
        model._meta.get_field(name)
    except Exception:
        return False
    return True
