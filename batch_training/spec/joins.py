"""A table joined point-in-time into a spec's training rows (``joins:`` in the spec).

Each joined table is a table of its own (source, contract, quality), ingested into its own
``<spec>/<join>/raw``, ``cleansed`` and ``quarantine`` assets with their checks. Each main row takes
the latest joined row with the same keys whose ``time`` is at or before the row's ``event_time``, and
no older than ``tolerance_minutes``; a row with none gets missing values (counted, never dropped).
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from batch_training.spec.identifiers import check_identifier
from batch_training.spec.tables import FieldError, SourceSpec, TableSource, TableSpec


class JoinSource(TableSource):
    """Where a joined table's rows are. Its days are the main table's (``first_day``, ``last_day``
    and ``timezone`` come from there): one ingest job and schedule take both."""

    def with_days_of(self, main: SourceSpec) -> SourceSpec:
        return SourceSpec(**self.model_dump(), first_day=main.first_day, last_day=main.last_day,
                          timezone=main.timezone)


class JoinSpec(TableSpec):
    source: JoinSource  # type: ignore[assignment]  # the days come from the main table
    keys: dict[str, str] = Field(description="main column -> joined column; the rows must agree on every key")
    event_time: str = Field(description="the main rows' time: a timestamp column or a derived timestamp")
    time: str = Field(description="the joined rows' timestamp column: the time each row holds from")
    tolerance_minutes: int = Field(ge=0, le=60 * 24 * 366,
                                   description="a joined row older than this before the event is no match")

    @field_validator("keys")
    @classmethod
    def _keys(cls, v: dict[str, str]) -> dict[str, str]:
        if not v:
            raise ValueError("a join needs at least one key (main column: joined column)")
        for main, joined in v.items():
            check_identifier(main, "key column")
            check_identifier(joined, "key column")
        return v

    @model_validator(mode="after")
    def _own_columns(self) -> "JoinSpec":
        for joined in self.keys.values():
            if joined not in self.columns:
                raise FieldError(("keys", joined), f"key {joined!r} is not declared under the joined table's columns")
        if self.time not in self.columns or self.columns[self.time].type != "timestamp":
            raise FieldError(("time",), f"time {self.time!r} must be a timestamp column of the joined table")
        return self

    def as_table(self, main: SourceSpec) -> TableSpec:
        """The joined table as the ingest reads it: its source with the main table's days."""
        return TableSpec(source=self.source.with_days_of(main), columns=self.columns, quality=self.quality)

    @property
    def margin_days(self) -> int:
        """Whole days before a window's first day that a match within the tolerance can come from."""
        return -(-self.tolerance_minutes // (24 * 60))
