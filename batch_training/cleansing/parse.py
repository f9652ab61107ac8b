"""Turn one raw column into its contract type, vectorized with Arrow compute.

Returns the typed values plus boolean masks: which values were repaired (and how), which could not
be parsed, and which are numbers or days the platform cannot represent (they break the range rule).
Nothing is dropped here; the contract decides what a bad value means for its row.

Dates and timestamps follow ``batch_training.timestamps``: a naive timestamp (typed, or text
without an offset) is wall-clock time in the source's timezone unless the spec says UTC; text
offsets must be real ones (at most 14:00); years outside 1..9999 are not dates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from batch_training.spec.tables import ColumnContract
from batch_training.timestamps import EPOCH, FIRST_DAY, LAST_DAY, day_kind, day_numbers, localize, representable, to_instants

ARROW_TYPES = {
    "integer": pa.int64(),
    "float": pa.float64(),
    "string": pa.string(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}
_INTEGER = r"^[+-]?[0-9]+$"
_FLOAT = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_GROUPED = r"^[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]*)?$"  # 1,200 or 12,345.5: a thousands separator
# ISO 8601 date and time to the second (an optional fraction of up to 6 digits), 'T' or a space between,
# and an optional zone: Z or an offset of at most 14:00 (the real ones lie within -12:00..+14:00).
_TIMESTAMP = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
              r"(?P<zone>Z|[+-](0[0-9]|1[0-3])(:?[0-5][0-9])?|[+-]14(:?00)?)?$")
_INT64 = 2.0**63
#: the rule a value breaks when it cannot be read as the column's type
UNPARSEABLE = {"integer": "not_a_number", "float": "not_a_number", "string": "wrong_type",
               "date": "bad_date", "timestamp": "bad_timestamp"}


@dataclass(frozen=True)
class TimeRule:
    """How naive timestamps are read: wall-clock time in ``timezone`` ("local") or in UTC ("utc")."""

    timezone: str = "UTC"
    naive: str = "local"


@dataclass
class ParsedColumn:
    values: pa.Array
    unparseable: pa.Array | None  # bool, True where a present value could not be read; None: none
    repairs: dict[str, pa.Array] = field(default_factory=dict)  # repair name -> bool mask
    overflow: pa.Array | None = None  # bool, True where a number lies beyond what int64 holds


def _is_textual(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def storage_type(t: pa.DataType) -> pa.DataType:
    """An extension type's storage (e.g. PostgreSQL NUMERIC arrives as an opaque string extension)."""
    return t.storage_type if isinstance(t, pa.BaseExtensionType) else t


def compatible(raw_type: pa.DataType, contract_type: str) -> bool:
    """Whether a raw column of this Arrow type can hold values of the contract type at all."""
    raw_type = storage_type(raw_type)
    if _is_textual(raw_type) or pa.types.is_null(raw_type):
        return True
    if contract_type in ("integer", "float"):
        return pa.types.is_integer(raw_type) or pa.types.is_floating(raw_type) or pa.types.is_decimal(raw_type)
    if contract_type in ("date", "timestamp"):
        return pa.types.is_date(raw_type) or pa.types.is_timestamp(raw_type)
    return False


def _mask(array: pa.Array) -> np.ndarray:
    return pc.fill_null(array, False).to_numpy(zero_copy_only=False)


def _parse_text(raw: pa.Array, contract: ColumnContract, rule: TimeRule) -> ParsedColumn:
    text = raw.cast(pa.string())
    repairs: dict[str, pa.Array] = {}
    if "whitespace" in contract.effective_repairs:
        trimmed = pc.utf8_trim_whitespace(text)
        repairs["whitespace"] = pc.fill_null(pc.and_(pc.not_equal(trimmed, text), pc.not_equal(trimmed, "")), False)
        text = trimmed
    # An empty text is a missing value, not a malformed one.
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    kind = contract.type
    if kind == "string":
        return ParsedColumn(text, None, repairs)
    if kind in ("integer", "float") and "thousands_separator" in contract.effective_repairs \
            and pc.any(pc.match_substring(text, ",")).as_py():
        grouped = pc.fill_null(pc.match_substring_regex(text, _GROUPED), False)
        repairs["thousands_separator"] = grouped
        text = pc.if_else(grouped, pc.replace_substring(text, ",", ""), text)
    overflow = None
    if kind in ("integer", "float"):
        values, overflow = _parse_number(text, kind)
    elif kind == "date":
        values = pc.strptime(text, format="%Y-%m-%d", unit="s", error_is_null=True).cast(pa.date32())
        values = _only(values, pc.and_(_real_day(text), representable(values)))
    else:
        values, repairs_dst = _parse_timestamp_text(text, rule)
        repairs.update(repairs_dst)
    unparseable = _unreadable(text, values)
    if overflow is not None and unparseable is not None:
        unparseable = pc.and_(unparseable, pc.invert(overflow))
    return ParsedColumn(values, unparseable, repairs, overflow)


def _unreadable(raw: pa.Array, values: pa.Array) -> pa.Array | None:
    """Where a present raw value has no typed value; None when every one was read (a missing value
    stays missing, so equal null counts mean nothing was lost)."""
    if values.null_count == raw.null_count:
        return None
    return pc.and_(pc.is_valid(raw), pc.is_null(values))


def _only(values: pa.Array, keep: pa.Array) -> pa.Array:
    """``values`` where ``keep`` is true, null elsewhere (and where ``keep`` is null)."""
    return pc.if_else(pc.fill_null(keep, False), values, pa.scalar(None, values.type))


def _parse_number(text: pa.Array, kind: str) -> tuple[pa.Array, pa.Array | None]:
    """Cast only the values that match the contract's number grammar; the rest become null.

    Arrow's own cast is not that grammar: it reads ``"0x10"`` as 16 and ``"nan"``/``"inf"`` as
    floats, and raises for the whole array on ``"+5"`` or an integer beyond int64. A bad value must
    be quarantined, never accepted nor allowed to fail the day: an integer beyond int64 is flagged
    as an overflow (it breaks the range rule), not as garbage.
    """
    target = ARROW_TYPES[kind]
    candidates = text
    ok = pc.match_substring_regex(text, _INTEGER if kind == "integer" else _FLOAT)
    if pc.all(ok).as_py() is False:  # (the masking and the "+" strip cost more than the check)
        candidates = pc.if_else(ok, candidates, pa.scalar(None, pa.string()))
    if pc.any(pc.starts_with(candidates, "+")).as_py():
        candidates = pc.replace_substring_regex(candidates, r"^\+", "")
    if kind == "float":
        return _finite(candidates.cast(target)), None
    try:
        return candidates.cast(target), None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # rare (an integer beyond int64): value by value
        read = [None if v is None else int(v) for v in candidates.to_pylist()]
        fits = [v is None or -(2**63) <= v < 2**63 for v in read]
        values = pa.array([v if ok else None for v, ok in zip(read, fits)], target)
        return values, pa.array([not ok for ok in fits], pa.bool_())


def _finite(values: pa.Array) -> pa.Array:
    """NaN and infinities (``1e400`` too) are not numbers a contract's range can judge."""
    return pc.if_else(pc.is_finite(values), values, pa.scalar(None, values.type))


def _real_day(text: pa.Array) -> pa.Array:
    """Whether the text's date part is a real calendar day: strptime rolls ``2013-02-30`` over to
    ``2013-03-02``, which would move the row to another day instead of quarantining it."""
    parts = pc.extract_regex(text, r"^(?P<ymd>[0-9]{4}-[0-9]{1,2}-(?P<d>[0-9]{1,2}))")
    read = pc.strptime(pc.struct_field(parts, "ymd"), format="%Y-%m-%d", unit="s", error_is_null=True)
    return pc.and_(pc.equal(pc.day(read), pc.struct_field(parts, "d").cast(pa.int64())),
                   representable(read.cast(pa.date32())))


def _dst_repairs(localized) -> dict[str, pa.Array]:
    out = {}
    if localized.gap.any():
        out["dst_gap"] = pa.array(localized.gap)
    if localized.ambiguous.any():
        out["dst_ambiguous"] = pa.array(localized.ambiguous)
    return out


def _parse_timestamp_text(text: pa.Array, rule: TimeRule) -> tuple[pa.Array, dict[str, pa.Array]]:
    """Strict ISO text to instants: with a zone as given, without one by the naive rule."""
    valid = pc.and_(pc.fill_null(pc.match_substring_regex(text, _TIMESTAMP), False), pc.fill_null(_real_day(text), False))
    zoned = pc.and_(valid, pc.fill_null(pc.match_substring_regex(text, r"(Z|[+-][0-9:]{2,5})$"), False))
    naive_text = _only(text, pc.and_(valid, pc.invert(zoned)))
    naive = to_instants(naive_text.cast(pa.timestamp("us")), rule.naive, rule.timezone)
    with_zone = _only(text, zoned).cast(ARROW_TYPES["timestamp"])
    values = pc.coalesce(with_zone, naive.instants)
    return _representable_instants(values), _dst_repairs(naive)


_US_PER_DAY = 86_400_000_000
_FIRST_US = (FIRST_DAY - EPOCH).days * _US_PER_DAY
_LAST_US = ((LAST_DAY - EPOCH).days + 1) * _US_PER_DAY - 1


def _representable_instants(values: pa.Array) -> pa.Array:
    """Instants whose UTC day lies in years 1..9999; others null."""
    us = values.cast(pa.int64())
    ok = pc.and_(pc.greater_equal(us, _FIRST_US), pc.less_equal(us, _LAST_US))
    return values if pc.all(ok).as_py() is not False else _only(values, ok)


def _decimal_to_int(raw: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Whole decimals that fit int64, exactly (a float cast would round beyond 2**53); others null.
    Also the mask of whole decimals too big for int64 (out of range, not garbage)."""
    whole = pc.fill_null(pc.equal(pc.floor(raw), raw), False)
    fits = pc.fill_null(pc.less(pc.abs(raw.cast(pa.float64())), _INT64), False)
    candidates = _only(raw, pc.and_(whole, fits))
    as_int = candidates.cast(pa.int64(), safe=False)
    # a value just below 2**63 in float may still not fit: the round trip says
    exact = pc.fill_null(pc.equal(as_int.cast(raw.type, safe=False), candidates), False)
    return _only(as_int, exact), pc.and_(whole, pc.invert(exact))


def _parse_typed(raw: pa.Array, contract: ColumnContract, rule: TimeRule) -> ParsedColumn:
    kind = contract.type
    if kind == "integer":
        if pa.types.is_decimal(raw.type):
            values, overflow = _decimal_to_int(raw)
            unread = _unreadable(raw, values)
            return ParsedColumn(values, None if unread is None else pc.and_(unread, pc.invert(overflow)), {}, overflow)
        elif pa.types.is_floating(raw.type):
            as_float = raw.cast(pa.float64())
            # whole and within int64 (NaN and infinities fail both); anything else would fail the cast
            whole = pc.and_(pc.equal(pc.floor(as_float), as_float), pc.less(pc.abs(as_float), _INT64))
            values = _only(as_float, whole).cast(pa.int64())
        elif pa.types.is_unsigned_integer(raw.type) and raw.type.bit_width == 64:
            fits = pc.less_equal(raw, pa.scalar(2**63 - 1, raw.type))
            values = _only(raw, fits).cast(pa.int64())
            return ParsedColumn(values, None, {}, pc.invert(pc.fill_null(fits, True)))
        else:
            values = raw.cast(pa.int64())
        return ParsedColumn(values, _unreadable(raw, values), {})
    if kind == "float":
        values = _finite(raw.cast(pa.float64()))
        return ParsedColumn(values, _unreadable(raw, values), {})
    if kind == "date":
        days = raw if pa.types.is_date(raw.type) else pa.array(
            day_numbers(raw, day_kind(raw.type, rule.naive), rule.timezone), pa.int32(),
            mask=pc.is_null(raw).to_numpy(zero_copy_only=False)).cast(pa.date32())
        values = _only(days.cast(pa.date32()), representable(days))
        return ParsedColumn(values, _unreadable(raw, values), {})
    # timestamp: instants as they are, naive values by the rule, dates at their local midnight
    if pa.types.is_date(raw.type):
        localized = localize(raw.cast(pa.date32()).cast(pa.timestamp("us")), rule.timezone)
    else:
        localized = to_instants(raw, rule.naive, rule.timezone)
    values = _representable_instants(localized.instants)
    return ParsedColumn(values, _unreadable(raw, values), _dst_repairs(localized))


def parse_column(raw: pa.Array | pa.ChunkedArray, contract: ColumnContract, rule: TimeRule = TimeRule()) -> ParsedColumn:
    """Read a raw column as the contract's type; values that cannot be read become null and flagged."""
    if isinstance(raw, pa.ChunkedArray):
        raw = raw.combine_chunks()
    if isinstance(raw.type, pa.BaseExtensionType):
        raw = raw.storage
    if pa.types.is_null(raw.type):
        return ParsedColumn(pa.nulls(len(raw), ARROW_TYPES[contract.type]), None, {})
    if _is_textual(raw.type):
        return _parse_text(raw, contract, rule)
    if not compatible(raw.type, contract.type):
        values = pa.nulls(len(raw), ARROW_TYPES[contract.type])
        return ParsedColumn(values, pc.is_valid(raw), {})
    return _parse_typed(raw, contract, rule)
