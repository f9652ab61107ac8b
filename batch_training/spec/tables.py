"""The parts of a training spec: a table's source, column contract and quality thresholds, and the
schedule. ``pipeline.py`` puts them together (``TrainingSpec``); ``joins.py`` adds the joined tables.

Nothing about a particular data set is hard-coded outside its spec. Unknown keys are errors
(``extra="forbid"``) so a typo never silently falls back to a default.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, field_validator, model_validator

from batch_training.spec.identifiers import check_identifier, check_table_name

ColumnType = Literal["integer", "float", "string", "date", "timestamp"]
Repair = Literal["whitespace", "thousands_separator"]
NUMERIC_TYPES = ("integer", "float")


def _number(value: object) -> int | float:
    """A bound as YAML wrote it: an integer stays an exact int (9007199254740993 is no float)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("Input should be a valid number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("Input should be a finite number")
    return value


Number = Annotated[int | float, PlainValidator(_number, json_schema_input_type=float)]


class FieldError(ValueError):
    """A cross-field rule broken at a known field; the loader appends ``loc`` to the error's path.

    A model validator's error is located at the model itself (``columns.distance`` or the top level),
    so without this a broken reference would be reported as ``<top level>`` instead of, say,
    ``source.partition_column``.
    """

    def __init__(self, loc: tuple[str | int, ...], message: str):
        super().__init__(message)
        self.loc = loc


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnContract(_Strict):
    """What a clean value of one column looks like."""

    type: ColumnType
    nullable: bool = False
    min: Number | None = None
    max: Number | None = None
    allowed: list[str] | None = Field(default=None, description="allowed values (categorical columns)")
    clock: bool = Field(default=False, description="an HHMM clock time: minutes < 60, 0000..2400")
    repairs: list[Repair] | None = Field(
        default=None,
        description="lossless repairs applied to text values; default: both for numbers, whitespace for strings",
    )
    raw_type: str | None = Field(
        default=None,
        description="the DWH type this column must arrive as, named as Arrow names it (int64, string, "
                    "timestamp[us, tz=UTC]); default: the type first seen. Another type fails schema_drift")

    @model_validator(mode="after")
    def _consistent(self) -> "ColumnContract":
        if self.min is not None and self.max is not None and self.min > self.max:
            raise FieldError(("min",), f"min ({self.min}) is greater than max ({self.max})")
        numeric_only = [k for k in ("min", "max", "clock") if getattr(self, k) not in (None, False)]
        if numeric_only and self.type not in NUMERIC_TYPES:
            raise FieldError((numeric_only[0],), f"min/max/clock need a numeric type, not {self.type!r}")
        if self.allowed is not None and self.type != "string":
            raise FieldError(("allowed",), f"allowed values need type 'string', not {self.type!r}")
        if self.repairs and "thousands_separator" in self.repairs and self.type not in NUMERIC_TYPES:
            raise FieldError(("repairs",), "the thousands_separator repair applies to numeric columns only")
        return self

    @property
    def effective_repairs(self) -> tuple[str, ...]:
        if self.repairs is not None:
            return tuple(self.repairs)
        return ("whitespace", "thousands_separator") if self.type in NUMERIC_TYPES else ("whitespace",)


class TableSource(_Strict):
    """Where a table's rows are in the DWH, and the column that names each row's day."""

    table: str
    partition_column: str = Field(description="a DATE (or TIMESTAMP) column that names each row's day")
    naive_timestamps: Literal["local", "utc"] = Field(
        default="local",
        description="what a timestamp without a time zone means: wall-clock time in `timezone` (local) or in "
                    "UTC; a timestamp with a time zone is an instant either way")
    allow_empty_days: bool = False
    extract_chunk_days: int = Field(
        default=31, ge=1, le=366, description="days read per query in a range run (bounds memory)"
    )
    cleanse_batch_rows: int = Field(
        default=500_000, ge=1, le=100_000_000,
        description="rows of whole days judged in one pass of the contract in a range run (bounds memory); "
                    "a day with more rows is judged alone")

    @field_validator("table")
    @classmethod
    def _table(cls, v: str) -> str:
        return check_table_name(v)

    @field_validator("partition_column")
    @classmethod
    def _partition_column(cls, v: str) -> str:
        return check_identifier(v, "partition column")


class SourceSpec(TableSource):
    """The main table's source, and the days of the pipeline (its partitions)."""

    timezone: str = Field(default="UTC", description="the days' timezone: a row's day is its local calendar day here")
    first_day: dt.date
    last_day: dt.date | None = Field(default=None, description="last day with data; open-ended when absent")

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {v!r}") from exc
        return v

    @model_validator(mode="after")
    def _days(self) -> "SourceSpec":
        if self.last_day is not None and self.last_day < self.first_day:
            raise FieldError(("last_day",), f"last_day {self.last_day} is before first_day {self.first_day}")
        return self


class QualitySpec(_Strict):
    """Thresholds of the data checks on each day."""

    quarantine_warn_rate: float = Field(default=0.02, ge=0, le=1)
    quarantine_max_rate: float = Field(default=0.25, ge=0, le=1)
    duplicate_warn_rate: float = Field(default=0.01, ge=0, le=1)
    min_rows: int = Field(default=1, ge=0, description="fewer rows than this make a day 'empty'")

    @model_validator(mode="after")
    def _ordered(self) -> "QualitySpec":
        if self.quarantine_warn_rate > self.quarantine_max_rate:
            raise FieldError(("quarantine_warn_rate",), "quarantine_warn_rate is above quarantine_max_rate")
        return self


class ScheduleSpec(_Strict):
    """When the daily run starts (in the source's timezone): it ingests the day before, then trains as of today."""

    cron: str = Field(default="0 6 * * *", description="a 5-field cron expression")
    max_model_age_days: int = Field(default=3, ge=1, description="days of ingested data the production model may lag")
    max_source_lag_days: int = Field(default=1, ge=0, description="days the DWH may be behind yesterday (production)")
    train_every_days: int = Field(default=1, ge=1, le=366,
                                  description="days between scheduled retrains (a drift ERROR trains early when "
                                              "monitoring.retrain_on_drift_error); unchanged inputs never retrain")

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        fields = v.split()
        if len(fields) != 5 or not all(re.fullmatch(r"[0-9*,/\-A-Za-z?]+", f) for f in fields):
            raise ValueError(f"{v!r} is not a 5-field cron expression")
        return v


class MonitoringSpec(_Strict):
    """Drift of each day's features against the training window's reference profile, and live error
    against offline error (see ``batch_training.monitoring``). A number *above* a threshold raises the
    level: ``*_warn`` to WARN, ``*_error`` to ERROR."""

    bins: int = Field(default=10, ge=2, le=100, description="quantile bins of a numeric feature's reference")
    top_categories: int = Field(default=20, ge=1, le=1000,
                                description="categories of a categorical feature kept by name; the rest pooled")
    psi_warn: float = Field(default=0.1, ge=0, description="population stability index of a feature")
    psi_error: float = Field(default=0.25, ge=0)
    unseen_warn: float = Field(default=0.01, ge=0, le=1,
                               description="share of a day's rows whose category training never saw")
    unseen_error: float = Field(default=0.05, ge=0, le=1)
    missing_warn: float = Field(default=0.05, ge=0, le=1,
                                description="increase of a feature's missing rate over training's (absolute)")
    missing_error: float = Field(default=0.2, ge=0, le=1)
    live_error_ratio_warn: float = Field(default=1.25, ge=1,
                                         description="live error / offline error above which a day is bad")
    live_warn_days: int = Field(default=3, ge=1, le=366, description="consecutive bad days that warn")
    retrain_on_drift_error: bool = Field(default=False, description="a drift ERROR requests a retraining")
    not_judged: list[str] = Field(
        default_factory=list,
        description="features whose drift is reported but never raises the level: one day of them cannot look "
                    "like a training window (the calendar of the partition column is never judged either)")

    @model_validator(mode="after")
    def _ordered(self) -> "MonitoringSpec":
        for name in ("psi", "unseen", "missing"):
            warn, error = getattr(self, f"{name}_warn"), getattr(self, f"{name}_error")
            if warn > error:
                raise FieldError((f"{name}_warn",), f"{name}_warn ({warn}) is above {name}_error ({error})")
        return self


class FeaturesSpec(_Strict):
    """Model inputs: a main column, a derived feature, or a joined table's column as ``<join>.<column>``."""

    numeric: list[str] = Field(default_factory=list)
    categorical: list[str] = Field(default_factory=list)


class TableSpec(_Strict):
    """One DWH table: where its rows are, how they are cut into days, what a clean row looks like."""

    source: SourceSpec
    columns: dict[str, ColumnContract]
    quality: QualitySpec = QualitySpec()

    @field_validator("columns")
    @classmethod
    def _column_names(cls, v: dict[str, ColumnContract]) -> dict[str, ColumnContract]:
        if not v:
            raise ValueError("the contract declares no columns")
        for name in v:
            try:
                check_identifier(name, "column name")
            except ValueError as exc:
                raise FieldError((name,), str(exc)) from None
        return v

    @model_validator(mode="after")
    def _partition_column(self) -> "TableSpec":
        part = self.source.partition_column
        if part not in self.columns:
            raise FieldError(("source", "partition_column"), f"partition column {part!r} is not declared under columns")
        if self.columns[part].type not in ("date", "timestamp"):
            raise FieldError(("columns", part, "type"), f"partition column {part!r} must have type date or timestamp")
        if self.columns[part].nullable:
            raise FieldError(("columns", part, "nullable"), f"partition column {part!r} cannot be nullable")
        return self
