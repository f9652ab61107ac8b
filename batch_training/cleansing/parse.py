"""Turn one raw column into its contract type, vectorized with Arrow compute.

Returns the typed values plus boolean masks: which values were repaired (and how) and which could
not be parsed. Nothing is dropped here; the contract decides what a bad value means for its row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from batch_training.spec.model import ColumnContract

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
#: the rule a value breaks when it cannot be read as the column's type
UNPARSEABLE = {"integer": "not_a_number", "float": "not_a_number", "string": "wrong_type",
               "date": "bad_date", "timestamp": "bad_timestamp"}


@dataclass
class ParsedColumn:
    values: pa.Array
    unparseable: pa.Array  # bool, True where a present value could not be read
    repairs: dict[str, pa.Array] = field(default_factory=dict)  # repair name -> bool mask


def _false(n: int) -> pa.Array:
    return pa.nulls(n, pa.bool_()).fill_null(False)


def _is_textual(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def compatible(raw_type: pa.DataType, contract_type: str) -> bool:
    """Whether a raw column of this Arrow type can hold values of the contract type at all."""
    if _is_textual(raw_type) or pa.types.is_null(raw_type):
        return True
    if contract_type in ("integer", "float"):
        return pa.types.is_integer(raw_type) or pa.types.is_floating(raw_type) or pa.types.is_decimal(raw_type)
    if contract_type == "date":
        return pa.types.is_date(raw_type) or pa.types.is_timestamp(raw_type)
    if contract_type == "timestamp":
        return pa.types.is_timestamp(raw_type) or pa.types.is_date(raw_type)
    return False


def _parse_text(raw: pa.Array, contract: ColumnContract) -> ParsedColumn:
    n = len(raw)
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
        return ParsedColumn(text, _false(n), repairs)
    if kind in ("integer", "float") and "thousands_separator" in contract.effective_repairs \
            and pc.any(pc.match_substring(text, ",")).as_py():
        grouped = pc.fill_null(pc.match_substring_regex(text, _GROUPED), False)
        repairs["thousands_separator"] = grouped
        text = pc.if_else(grouped, pc.replace_substring(text, ",", ""), text)
    if kind in ("integer", "float"):
        values = _parse_number(text, kind)
    else:
        if kind == "date":
            values = pc.strptime(text, format="%Y-%m-%d", unit="s", error_is_null=True).cast(pa.date32())
        else:
            values = _parse_timestamp_text(text)
        values = pc.if_else(pc.fill_null(_real_day(text), False), values, pa.scalar(None, values.type))
    unparseable = pc.and_(pc.is_valid(text), pc.is_null(values))
    return ParsedColumn(values, unparseable, repairs)


def _parse_number(text: pa.Array, kind: str) -> pa.Array:
    """Cast only the values that match the contract's number grammar; the rest become null.

    Arrow's own cast is not that grammar: it reads ``"0x10"`` as 16 and ``"nan"``/``"inf"`` as
    floats, and raises for the whole array on ``"+5"`` or an integer beyond int64. A bad value must
    be quarantined, never accepted nor allowed to fail the day.
    """
    target = ARROW_TYPES[kind]
    candidates = text
    ok = pc.match_substring_regex(text, _INTEGER if kind == "integer" else _FLOAT)
    if pc.all(ok).as_py() is False:  # (the masking and the "+" strip cost more than the check)
        candidates = pc.if_else(ok, candidates, pa.scalar(None, pa.string()))
    if pc.any(pc.starts_with(candidates, "+")).as_py():
        candidates = pc.replace_substring_regex(candidates, r"^\+", "")
    try:
        values = candidates.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # rare (an integer beyond int64): value by value
        values = pa.array([_read_number(v, kind) for v in candidates.to_pylist()], target)
    return _finite(values) if kind == "float" else values


def _read_number(text: str | None, kind: str) -> int | float | None:
    if text is None:
        return None
    if kind == "float":
        return float(text)
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


def _finite(values: pa.Array) -> pa.Array:
    """NaN and infinities (``1e400`` too) are not numbers a contract's range can judge."""
    return pc.if_else(pc.is_finite(values), values, pa.scalar(None, values.type))


def _real_day(text: pa.Array) -> pa.Array:
    """Whether the text's date part is a real calendar day: strptime rolls ``2013-02-30`` over to
    ``2013-03-02``, which would move the row to another day instead of quarantining it."""
    parts = pc.extract_regex(text, r"^(?P<ymd>[0-9]{4}-[0-9]{1,2}-(?P<d>[0-9]{1,2}))")
    read = pc.strptime(pc.struct_field(parts, "ymd"), format="%Y-%m-%d", unit="s", error_is_null=True)
    return pc.equal(pc.day(read), pc.struct_field(parts, "d").cast(pa.int64()))


def _parse_timestamp_text(text: pa.Array) -> pa.Array:
    with_zone = pc.strptime(text, format="%Y-%m-%dT%H:%M:%S%z", unit="us", error_is_null=True)
    naive = pc.strptime(text, format="%Y-%m-%d %H:%M:%S", unit="us", error_is_null=True)
    naive = pc.assume_timezone(naive, "UTC")
    return pc.coalesce(with_zone.cast(pa.timestamp("us", tz="UTC")), naive.cast(pa.timestamp("us", tz="UTC")))


def _parse_typed(raw: pa.Array, contract: ColumnContract) -> ParsedColumn:
    n = len(raw)
    target = ARROW_TYPES[contract.type]
    if contract.type == "integer" and (pa.types.is_floating(raw.type) or pa.types.is_decimal(raw.type)):
        as_float = raw.cast(pa.float64())
        # whole and within int64 (NaN and infinities fail both); anything else would fail the cast
        whole = pc.and_(pc.equal(pc.floor(as_float), as_float), pc.less(pc.abs(as_float), 2.0**63))
        values = pc.if_else(whole, as_float, pa.scalar(None, pa.float64())).cast(pa.int64())
        return ParsedColumn(values, pc.and_(pc.is_valid(raw), pc.is_null(values)), {})
    if contract.type == "float" and pa.types.is_floating(raw.type):
        values = _finite(raw.cast(pa.float64()))
        return ParsedColumn(values, pc.and_(pc.is_valid(raw), pc.is_null(values)), {})
    if contract.type == "timestamp" and pa.types.is_timestamp(raw.type) and raw.type.tz is None:
        raw = pc.assume_timezone(raw, "UTC")
    return ParsedColumn(raw.cast(target), _false(n), {})


def parse_column(raw: pa.Array | pa.ChunkedArray, contract: ColumnContract) -> ParsedColumn:
    """Read a raw column as the contract's type; values that cannot be read become null and flagged."""
    if isinstance(raw, pa.ChunkedArray):
        raw = raw.combine_chunks()
    if pa.types.is_null(raw.type):
        return ParsedColumn(pa.nulls(len(raw), ARROW_TYPES[contract.type]), _false(len(raw)), {})
    if _is_textual(raw.type):
        return _parse_text(raw, contract)
    if not compatible(raw.type, contract.type):
        values = pa.nulls(len(raw), ARROW_TYPES[contract.type])
        return ParsedColumn(values, pc.is_valid(raw), {})
    return _parse_typed(raw, contract)
