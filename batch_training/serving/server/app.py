"""The HTTP API of a model bundle.

- ``POST /predict``: one row -> ``{"prediction", "model_version"}``; ``POST /predict/batch``:
  ``{"rows": [...]}`` -> ``{"predictions", "model_version"}``. A prediction is a number (regression)
  or ``{"label", "probabilities": {label: p}}`` (classification).
- ``GET /health``: the process answers. ``GET /ready``: the model is loaded and a warm-up prediction
  ran (503 before). ``GET /metadata``: ``metadata.json`` (version, spec, features, contract, lineage,
  metrics) plus the limits in force.

Bad input is the client's error: request models generated from the contract (``schema.py``) turn it
into FastAPI's 422 with one entry per bad field; malformed JSON is a 422 too (and a NaN or Infinity,
which Python's JSON reader accepts, is echoed back as a string rather than breaking the error reply). Bodies over
``max_body_bytes`` get 413: FastAPI's ``max_body_size`` (Starlette's body-limit middleware) checks the
Content-Length header and also counts the bytes of a streamed (chunked) body as they arrive.

The model is loaded in the lifespan start-up, synchronously: a bundle whose model cannot load or
predict makes the process exit at start (uvicorn's exit code 3), not serve 500s. The prediction
routes are plain ``def`` functions, so FastAPI runs them in its thread pool and ONNX Runtime (which
releases the GIL) never blocks the event loop.

No ``from __future__ import annotations`` here: the routes' parameter types are classes built at
run time, which FastAPI must see as objects, not as strings to resolve.
"""

import math
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from .model import Model, read_metadata
from .schema import batch_model, response_models, row_model


def create_app(bundle_dir: Path, max_body_bytes: int = 4 * 1_048_576, max_batch_rows: int = 10_000,
               threads: int = 1) -> FastAPI:
    bundle_dir = Path(bundle_dir)
    metadata = read_metadata(bundle_dir)  # the request models need it now; a bad bundle fails here
    version = str(metadata["version"])
    Row = row_model(metadata)
    BatchRequest = batch_model(Row, max_batch_rows)
    Prediction, BatchPrediction = response_models(metadata["task"])
    state: dict = {"model": None}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        model = Model(bundle_dir, threads=threads)
        model.warm_up()
        state["model"] = model
        yield
        state["model"] = None

    app = FastAPI(title=f"{metadata.get('spec', 'model')} prediction server", version=version,
                  description=f"Predicts {metadata.get('target')!r} ({metadata['task']}).",
                  lifespan=lifespan, max_body_size=max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes each bad input back; Python's JSON reader accepts NaN and
        # Infinity, which strict JSON cannot write, so a body like `NaN` would turn a 422 into a 500.
        return JSONResponse({"detail": _finite(jsonable_encoder(exc.errors()))}, status_code=422)

    def loaded() -> Model:
        if state["model"] is None:
            raise HTTPException(status_code=503, detail="the model is not loaded yet")
        return state["model"]

    # One row is ~0.1 ms of work: run it on the event loop, without the hop to a worker thread that a
    # plain `def` endpoint takes (that hop dominated the single-row tail latency). Batches, which can
    # take tens of milliseconds, stay on the thread pool so they never stall other requests.
    @app.post("/predict", response_model=Prediction)
    async def predict(row: Row):
        prediction = loaded().predict([row.model_dump(by_alias=True)])[0]
        return {"prediction": prediction, "model_version": version}

    @app.post("/predict/batch", response_model=BatchPrediction)
    def predict_batch(request: BatchRequest):
        rows = [row.model_dump(by_alias=True) for row in request.rows]
        return {"predictions": loaded().predict(rows), "model_version": version}

    @app.get("/health")
    def health():
        return {"status": "ok"}

    @app.get("/ready")
    def ready():
        if state["model"] is None:
            return JSONResponse({"status": "loading", "model_version": version}, status_code=503)
        return {"status": "ready", "model_version": version}

    @app.get("/metadata")
    def get_metadata():
        return {**metadata, "model_version": version,
                "limits": {"max_body_bytes": max_body_bytes, "max_batch_rows": max_batch_rows}}

    return app


def _finite(value):
    """``value`` with NaN and infinities replaced by their names (strict JSON has no such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
