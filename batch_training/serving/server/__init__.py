"""The prediction server of a model bundle: ONNX Runtime behind FastAPI.

This package is copied verbatim into every bundle (and so into the image), where it is the top-level
package ``server``. It must import only the standard library, numpy, onnxruntime, fastapi, starlette,
pydantic and uvicorn (and what those bring along: anyio for worker threads, pydantic-core for JSON):
never torch, pyarrow or ``batch_training`` (a test checks). Run it with ``python -m server --bundle DIR``.

    app.py       routes, the event loop and worker threads
    service.py   body -> JSON -> checked columns -> predictions -> reply
    columns.py   the data contract checked column by column (``schema.py``'s rules)
    errors.py    422 bodies: FastAPI's shape, at most 20 entries plus ``errors_total``
    schema.py    pydantic request/response models, for the OpenAPI document
    model.py     ONNX Runtime session; preprocess.py: its NumPy preprocessing
    derive.py    derived features from the raw fields (the training pipeline uses this very module)

``create_app`` is imported on first use, so that the training side can import ``derive`` without
the web stack.
"""

__all__ = ["create_app"]


def __getattr__(name: str):
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(name)
