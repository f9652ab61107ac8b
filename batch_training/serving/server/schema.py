"""Request and response models, generated at start-up from ``metadata.json`` (features and contract).

They document the API (``/docs``, ``/openapi.json``) and are the reference for its rules; requests
are checked against the same rules column by column (``columns.py``, faster on batches), and a test
holds the two to the same verdicts and errors.

A request row must satisfy the data contract the model was trained under, so a bad value is the
client's error (422, naming the field), never a silent guess:

- numeric feature: a JSON number (strings and booleans are refused, no "12" -> 12 coercion), finite,
  within the contract's ``min``/``max``; whole for an ``integer`` column; an HHMM ``clock`` column
  also needs 0..2400 and minutes < 60 (the cleansing rule);
- categorical feature: a string (an ``int`` for an integer column), one of ``allowed`` when the
  contract lists them; other values are accepted and go to the model's unseen-value bucket;
- a ``nullable`` feature may be ``null`` or left out (the model's missing-value path); a feature the
  contract declares non-nullable is required and must not be ``null``, since cleansed training rows
  never lacked it;
- date and timestamp inputs (what derived features are computed from): ISO 8601 strings of a real
  calendar day (``YYYY-MM-DD``; ``YYYY-MM-DDTHH:MM:SS[.ffffff][Z|±HH:MM]``);
- unknown fields are refused (``extra="forbid"``).

Fields are declared under neutral Python names with the feature name as alias, so a feature called,
say, ``copy`` or ``model_id`` cannot clash with pydantic's own attributes; errors and documents use the
feature names.
"""

from __future__ import annotations

from types import GenericAlias
from typing import Annotated, Any, Literal, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model
from pydantic.json_schema import models_json_schema

from .inputs import DATE_PATTERN, DATE_RULE, KINDS, TIMESTAMP_PATTERN, day_number, request_inputs

WHOLE_RULE = "this column holds whole numbers"
CLOCK_RULE = "an HHMM clock time needs 0000..2400 and minutes below 60"


def _whole(value: float) -> float:
    if value != int(value):
        raise ValueError(WHOLE_RULE)
    return value


def _clock(value: float) -> float:
    # The cleansing contract's rule: 0000..2400 with minutes below 60.
    if value < 0 or value > 2400 or value - (value // 100) * 100 >= 60:
        raise ValueError(CLOCK_RULE)
    return value


def _field(name: str, contract: dict, categorical: bool) -> tuple[Any, Any]:
    if categorical:
        allowed = contract.get("allowed")
        if allowed:
            kind: Any = Literal[tuple(allowed)]  # exact matches only, no coercion
        elif contract.get("type") == "integer":  # e.g. a code; the model sees its text, as Arrow writes it
            kind = Annotated[int, Field(strict=True, ge=contract.get("min"), le=contract.get("max"))]
        else:
            kind = Annotated[str, Field(strict=True)]
    else:
        checks = ([AfterValidator(_whole)] if contract.get("type") == "integer" else []) + \
            ([AfterValidator(_clock)] if contract.get("clock") else [])
        kind = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=contract.get("min"),
                                      le=contract.get("max")), *checks]
    if contract.get("nullable", False):
        return kind | None, Field(default=None, alias=name)
    return kind, Field(alias=name)


def _real_day(value: str) -> str:
    if day_number(value[:10]) is None or not 1 <= int(value[:4]) <= 9999:
        raise ValueError(DATE_RULE)
    return value


def _temporal(name: str, contract: dict, pattern: str) -> tuple[Any, Any]:
    kind: Any = Annotated[str, Field(strict=True, pattern=pattern), AfterValidator(_real_day)]
    if contract.get("nullable", False):
        return Optional[kind], Field(default=None, alias=name)
    return kind, Field(alias=name)


def row_model(metadata: dict) -> type[BaseModel]:
    """The model of one request row: every raw input (``inputs.request_inputs``), in their order."""
    inputs, contract = request_inputs(metadata), metadata.get("contract", {})
    fields = {}
    for kind in KINDS:
        for name in inputs[kind]:
            rules = contract.get(name, {"nullable": True})
            if kind in ("dates", "timestamps"):
                fields[f"f{len(fields)}"] = _temporal(name, rules, DATE_PATTERN if kind == "dates" else TIMESTAMP_PATTERN)
            else:
                fields[f"f{len(fields)}"] = _field(name, rules, kind == "categorical")
    return create_model("Row", __config__=ConfigDict(extra="forbid"), **fields)


def batch_model(row: type[BaseModel], max_rows: int) -> type[BaseModel]:
    return create_model("BatchRequest", __config__=ConfigDict(extra="forbid"),
                        rows=(GenericAlias(list, (row,)), Field(max_length=max_rows, description=f"at most {max_rows} rows")))


class Classification(BaseModel):
    label: str
    probabilities: dict[str, float]


def response_models(task: str) -> tuple[type[BaseModel], type[BaseModel]]:
    """(single, batch) response models for the task."""
    prediction: Any = float if task == "regression" else Classification
    single = create_model("Prediction", prediction=(prediction, ...), model_version=(str, ...))
    batch = create_model("BatchPrediction", predictions=(GenericAlias(list, (prediction,)), ...), model_version=(str, ...))
    return single, batch


def openapi_schemas(*models: type[BaseModel]) -> dict[str, dict]:
    """The models' JSON schemas for ``components.schemas`` of the OpenAPI document. The prediction
    routes read their bodies themselves (see ``app.py``), so FastAPI cannot list them on its own."""
    _, schema = models_json_schema([(m, "validation") for m in models], ref_template="#/components/schemas/{model}")
    return schema.get("$defs", {})
