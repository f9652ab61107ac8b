"""The HTTP API of a model bundle.

- ``POST /predict``: one row -> ``{"prediction", "model_version"}``; ``POST /predict/batch``:
  ``{"rows": [...]}`` (at most ``max_batch_rows``) -> ``{"predictions", "model_version"}``. A
  prediction is a number (regression) or ``{"label", "probabilities": {label: p}}`` (classification).
- ``GET /health``: the process answers. ``GET /ready``: the model is loaded and a warm-up prediction
  ran (503 before). ``GET /metadata``: ``metadata.json`` (version, spec, features, contract, lineage,
  metrics) plus the limits in force.

Bad input is the client's error: a 422 in FastAPI's shape, one entry per bad field, checked against
the contract column by column (``columns.py``), with at most the first 20 entries listed and
``"errors_total"`` counting them all (``errors.py``); malformed JSON is a 422 too (a NaN or Infinity,
which Python's JSON reader accepts, is refused by the checks and echoed back as a string). A batch
longer than ``max_batch_rows`` is refused on its length at once, before any row is checked. Bodies
over ``max_body_bytes`` get 413: FastAPI's ``max_body_size`` (Starlette's body-limit middleware)
checks the Content-Length header and also counts the bytes of a streamed (chunked) body as they arrive.

The event loop only reads bodies and writes replies. A batch is parsed, checked and predicted in a
worker thread (at most ``os.cpu_count()`` at once, so a flood of 4 MiB bodies queues rather than
piling up parsed copies in memory), and so is a single-row body too large to be a plain row; a
normal row, ~0.1 ms of work, stays on the loop, where the hop to a thread would cost more than the
work. So ``/health`` and ``/predict`` keep answering while a big batch is in flight. ONNX Runtime
releases the GIL; the Python checks take it in slices (the interpreter's switch interval).

The model is loaded in the lifespan start-up, synchronously: a bundle whose model cannot load or
predict makes the process exit at start (uvicorn's exit code 3), not serve 500s.
"""

import os
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
from anyio import CapacityLimiter
from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

from .errors import Errors, Invalid
from .model import Model, read_metadata
from .schema import batch_model, openapi_schemas, response_models, row_model
from .service import Service

INLINE_BODY_BYTES = 16 * 1024  # a row of any sane contract is well under this


def create_app(bundle_dir: Path, max_body_bytes: int = 4 * 1_048_576, max_batch_rows: int = 10_000,
               threads: int = 1) -> FastAPI:
    bundle_dir = Path(bundle_dir)
    metadata = read_metadata(bundle_dir)  # the request models need it now; a bad bundle fails here
    version = str(metadata["version"])
    Row = row_model(metadata)
    BatchRequest = batch_model(Row, max_batch_rows)
    Prediction, BatchPrediction = response_models(metadata["task"])
    service = Service(metadata, version, max_batch_rows)
    workers: dict = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        model = Model(bundle_dir, threads=threads)
        model.warm_up()
        service.model, workers["limiter"] = model, CapacityLimiter(os.cpu_count() or 1)
        yield
        service.model = None

    app = FastAPI(title=f"{metadata.get('spec', 'model')} prediction server", version=version,
                  description=f"Predicts {metadata.get('target')!r} ({metadata['task']}).",
                  lifespan=lifespan, max_body_size=max_body_bytes)

    @app.exception_handler(Invalid)
    async def invalid_request(request: Request, exc: Invalid):
        return exc.errors.response()

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        # No route declares a body now; should one come back, its errors get the same cap and echo.
        errors = Errors()
        for e in jsonable_encoder(exc.errors()):
            errors.add(e["type"], tuple(e["loc"]), e["msg"], e.get("input"), e.get("ctx"))
        return errors.response()

    def loaded() -> Service:
        if service.model is None:
            raise HTTPException(status_code=503, detail="the model is not loaded yet")
        return service

    async def run(work, request: Request, inline: bool = False):
        """``work(body, content type)``: on the event loop if ``inline`` and the body is small enough
        to be a plain row, else in a worker thread."""
        body, content_type = await request.body(), request.headers.get("content-type")
        if inline and len(body) <= INLINE_BODY_BYTES:
            return work(body, content_type)
        return await anyio.to_thread.run_sync(work, body, content_type, limiter=workers["limiter"])

    @app.post("/predict", response_model=Prediction, openapi_extra=_body("Row"))
    async def predict(request: Request):
        return await run(loaded().single, request, inline=True)

    @app.post("/predict/batch", response_model=BatchPrediction, openapi_extra=_body("BatchRequest"))
    async def predict_batch(request: Request):
        return await run(loaded().batch, request)

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.get("/ready")
    async def ready():
        if service.model is None:
            return JSONResponse({"status": "loading", "model_version": version}, status_code=503)
        return {"status": "ready", "model_version": version}

    @app.get("/metadata")
    async def get_metadata():
        return {**metadata, "model_version": version,
                "limits": {"max_body_bytes": max_body_bytes, "max_batch_rows": max_batch_rows}}

    def openapi() -> dict:
        # FastAPI's document, plus the request models the prediction routes point to.
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description,
                                   routes=app.routes)
            document.setdefault("components", {}).setdefault("schemas", {}).update(openapi_schemas(Row, BatchRequest))
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi
    return app


def _body(model: str) -> dict:
    """The OpenAPI request body of a route that reads its body itself (see ``service.py``)."""
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}}}}
