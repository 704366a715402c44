"""What the upstream records of both clients share: pydantic v2 models that keep the raw JSON, ignore fields they
do not know, accept null wherever the reference pages allow it, and turn dates into aware UTC datetimes."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from .exceptions import UpstreamBadResponse


def _to_utc(value: Any) -> Any:
    """Dates arrive as ISO 8601 strings (SmarterProctoring: UTC with Z; ProctorExam: with an offset).

    An empty string counts as null. A date without an offset is read as UTC, which both upstreams use on the wire.
    Anything else makes the record malformed. (This runs for every date of every record: keep it cheap;
    Python 3.11's C `fromisoformat` reads the Z and the milliseconds itself.)
    """
    if value is None or value == "":
        return None
    if type(value) is str:
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("not an ISO 8601 date") from None
    if isinstance(value, datetime):
        tz = value.tzinfo
        if tz is timezone.utc:
            return value
        if tz is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
    raise ValueError("not an ISO 8601 date")


UtcDatetime = Annotated[datetime | None, BeforeValidator(_to_utc)]


def _required_text(value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError("is required")
    return value


RequiredText = Annotated[str, BeforeValidator(_required_text)]

R = TypeVar("R", bound="UpstreamRecord")


class UpstreamRecord(BaseModel):
    """Base of every record: extra fields ignored, the untouched JSON in `.raw`."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=False)

    @property
    def raw(self) -> dict[str, Any]:
        """The JSON object exactly as the upstream sent it."""
        # Kept in the instance's __dict__ rather than as a pydantic private attribute: private attributes cost a
        # post-init hook per record (about a quarter of an appointment's validation; docs/benchmarks.md).
        return self.__dict__.get("_raw") or {}

    @classmethod
    def parse(cls: type[R], data: Any, *, upstream: str, endpoint: str) -> R:
        """Validate one JSON object; anything malformed becomes UpstreamBadResponse naming the bad fields."""
        if not isinstance(data, dict):
            raise UpstreamBadResponse(f"expected a JSON object for {cls.__name__}, got {type(data).__name__}",
                                      upstream=upstream, endpoint=endpoint)
        try:
            record = cls.__pydantic_validator__.validate_python(data)
        except ValidationError as e:
            raise bad_record(e, cls.__name__, upstream=upstream, endpoint=endpoint) from e
        object.__setattr__(record, "_raw", data)
        return record


def bad_record(error: ValidationError, name: str, *, upstream: str, endpoint: str, prefix: str = "") -> UpstreamBadResponse:
    """The UpstreamBadResponse for a record that failed validation: names the fields, never echoes the values (they
    may be personal data)."""
    where = ", ".join(sorted({prefix + (".".join(str(p) for p in err["loc"]) or "(record)") for err in error.errors()}))
    return UpstreamBadResponse(f"malformed {name}: {where}", upstream=upstream, endpoint=endpoint)
