"""The prediction server of a model bundle: ONNX Runtime behind FastAPI.

This package is copied verbatim into every bundle (and so into the image), where it is the top-level
package ``server``. It must import only the standard library, numpy, onnxruntime, fastapi, pydantic
and uvicorn: never torch, pyarrow or ``batch_training`` (a test checks). Run it with
``python -m server --bundle DIR``.
"""

from .app import create_app

__all__ = ["create_app"]
