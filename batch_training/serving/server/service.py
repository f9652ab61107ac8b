"""From a request body to the reply: parse the JSON, check it against the contract, predict.

The prediction routes hand their raw bodies here rather than declaring pydantic body parameters,
because FastAPI parses and validates a declared body on the event loop, before a ``def`` route
even reaches its worker thread: a 4 MiB batch of 1.3 million ``{}`` rows held the loop for seconds.
These functions are plain and synchronous so that ``app.py`` can run them in a worker thread.

Parity with what FastAPI did for a declared body: a JSON content type is required (``+json``
types and charsets too); an empty body is "Field required"; malformed JSON is ``json_invalid`` at
the character where Python's reader gave up; an undecodable body is a 400. The faster reader of
pydantic-core parses first; a body it refuses goes through Python's ``json`` again, which accepts
the few things pydantic-core does not (a BOM, a lone surrogate, deep nesting) and words the error.
"""

from __future__ import annotations

import json
from email.message import Message
from functools import lru_cache
from typing import Any

from fastapi import HTTPException
from pydantic_core import from_json, to_json
from starlette.responses import Response

from .columns import Validator
from .errors import FIELD_REQUIRED, NOT_AN_OBJECT, Errors, invalid, key
from .inputs import Derivation
from .model import Model


class Service:
    def __init__(self, metadata: dict, version: str, max_batch_rows: int):
        self.validator, self.version, self.max_batch_rows = Validator(metadata), version, max_batch_rows
        self.derivation = Derivation(metadata)
        self.model: Model | None = None  # set once loaded (the app's lifespan)

    def single(self, body: bytes, content_type: str | None) -> Response:
        """``POST /predict``: one row, errors at ``["body", feature]``."""
        doc = parse(body, content_type)
        if type(doc) is not dict:
            raise invalid("model_attributes_type", ("body",), NOT_AN_OBJECT, doc)
        errors = Errors()
        columns = self.validator.check([doc], errors, lambda i: ("body",))
        if columns is None:
            return errors.response()
        features = self.derivation.features(columns, 1)
        return _json({"prediction": self.model.predict_columns(features, 1)[0], "model_version": self.version})

    def batch(self, body: bytes, content_type: str | None) -> Response:
        """``POST /predict/batch``: ``{"rows": [...]}``, errors at ``["body", "rows", i, feature]``."""
        doc = parse(body, content_type)
        if type(doc) is not dict:
            raise invalid("model_attributes_type", ("body",), NOT_AN_OBJECT, doc)
        errors, columns = Errors(), None
        rows = doc.get("rows")
        if "rows" not in doc:
            errors.add("missing", ("body", "rows"), FIELD_REQUIRED, doc)
        elif type(rows) is not list:
            errors.add("list_type", ("body", "rows"), "Input should be a valid list", rows)
        elif len(rows) > self.max_batch_rows:  # refused on its length, before any row is looked at
            errors.add("too_long", ("body", "rows"),
                       f"List should have at most {self.max_batch_rows} items after validation, not {len(rows)}",
                       rows, {"field_type": "List", "max_length": self.max_batch_rows, "actual_length": len(rows)})
        else:
            columns = self.validator.check(rows, errors, lambda i: ("body", "rows", i))
        for name in doc:  # pydantic lists unknown fields after the fields' own errors
            if name != "rows":
                errors.add("extra_forbidden", ("body", key(name)), "Extra inputs are not permitted", doc[name])
        if errors:
            return errors.response()
        features = self.derivation.features(columns, len(rows))
        return _json({"predictions": self.model.predict_columns(features, len(rows)), "model_version": self.version})


def parse(body: bytes, content_type: str | None) -> Any:
    """The body's JSON document; raises ``Invalid`` (422) or a 400 as FastAPI would."""
    if not body:
        raise invalid("missing", ("body",), FIELD_REQUIRED, None)
    if not _is_json(content_type):  # FastAPI then validated the raw bytes, which are no object
        raise invalid("model_attributes_type", ("body",), NOT_AN_OBJECT, body)
    try:
        return from_json(body)  # NaN and Infinity allowed, as Python's reader does: the checks refuse them
    except ValueError:
        pass
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise invalid("json_invalid", ("body", exc.pos), "JSON decode error", {}, {"error": exc.msg}) from None
    except (ValueError, RecursionError):  # not UTF-8, or an integer of more than 4300 digits
        raise HTTPException(status_code=400, detail="There was an error parsing the body") from None


@lru_cache(maxsize=64)
def _is_json(content_type: str | None) -> bool:
    """FastAPI's rule: ``application/json`` or ``application/*+json``, parameters ignored."""
    if not content_type:
        return False
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def _json(content: Any) -> Response:
    # pydantic-core writes a NaN prediction as null, as FastAPI's response model did.
    return Response(to_json(content), media_type="application/json")
