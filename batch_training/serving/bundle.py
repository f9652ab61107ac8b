"""A model bundle: everything the prediction server image needs, in one folder.

::

    model.onnx           the network (see export.py), checked against PyTorch when written
    preprocessing.json   the checkpoint's Preprocessor.to_dict() document
    metadata.json        spec, version, task, target, features, their contract, lineage, metrics
    server/              the server package, copied verbatim (imports no torch/pyarrow/batch_training)
    requirements.txt     the server's libraries pinned to the versions installed here
    Dockerfile           model-in-image: ``docker build``/``buildah bud`` on this folder
    .dockerignore

The folder appears whole or not at all, and its ``content_hash`` (sha256 over the sorted relative
paths and the bytes of every file) is the same for two builds of the same checkpoint, spec, version
and metrics with the same libraries: nothing in it records when or where it was built.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path

from batch_training.features.columns import request_schema
from batch_training.serving.export import export_onnx
from batch_training.spec import TrainingSpec
from batch_training.storage import atomic_directory
from batch_training.training import file_sha256, load_checkpoint

SERVER_PACKAGE = Path(__file__).resolve().parent / "server"
SERVER_REQUIREMENTS = ("numpy", "onnxruntime", "fastapi", "starlette", "anyio", "pydantic", "uvicorn")
PORT = 8080
DEFAULT_BASE_IMAGE = "python:3.11-slim"


@dataclass
class BundleInfo:
    path: Path
    version: str
    content_hash: str
    files: list[str]
    onnx: dict = field(default_factory=dict)  # export_onnx's report: opset, inputs, max_abs_diff, ...

    def to_dict(self) -> dict:
        return {**asdict(self), "path": str(self.path)}


def bundle_requirements() -> list[str]:
    """``name==version`` of the server's libraries as installed here (Starlette too: the body limit
    and request handling are its code, and FastAPI allows a range of it)."""
    return [f"{name}=={importlib_metadata.version(name)}" for name in SERVER_REQUIREMENTS]


def content_hash(folder: Path) -> str:
    """sha256 over every file's relative path (sorted, POSIX form), size and bytes."""
    digest = hashlib.sha256()
    for rel in _files(folder):
        data = (folder / rel).read_bytes()
        digest.update(f"{rel}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def build_bundle(checkpoint_path: Path, spec: TrainingSpec, version: str, out_dir: Path,
                 metrics: dict | None = None) -> BundleInfo:
    """Write the bundle of the checkpoint at ``checkpoint_path`` into ``out_dir`` (replacing it whole)."""
    checkpoint_path, out_dir = Path(checkpoint_path), Path(out_dir)
    checkpoint = load_checkpoint(checkpoint_path)
    features = _features(checkpoint.preprocessing, spec)
    with atomic_directory(out_dir) as tmp:
        onnx_info = export_onnx(checkpoint, tmp / "model.onnx")
        _write_json(tmp / "preprocessing.json", checkpoint.preprocessing)
        _write_json(tmp / "metadata.json", {
            "spec": spec.name,
            "version": version,
            "task": spec.task,
            "target": spec.target,
            "features": features,
            **request_schema(spec),  # inputs, their contract, derived recipes, the time rule
            "lineage": checkpoint.lineage,
            "metrics": metrics or {},
            "checkpoint_sha256": file_sha256(checkpoint_path),
            "onnx": onnx_info,
        })
        shutil.copytree(SERVER_PACKAGE, tmp / "server", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        (tmp / "requirements.txt").write_text("\n".join(bundle_requirements()) + "\n")
        (tmp / "Dockerfile").write_text(dockerfile(spec.name, version))
        (tmp / ".dockerignore").write_text("**/__pycache__\n**/*.pyc\n")
    return BundleInfo(path=out_dir, version=version, content_hash=content_hash(out_dir), files=_files(out_dir),
                      onnx=onnx_info)


def dockerfile(spec_name: str, version: str) -> str:
    """The image's Dockerfile. The server listens on 0.0.0.0 inside the container: a container's
    loopback is unreachable from outside it, so this is the one place that binds beyond loopback
    (``python -m server`` defaults to 127.0.0.1). It runs as an unprivileged user (uid 10001).

    ``BASE_IMAGE`` is any image with Python >= 3.11 and its ``venv`` module (python:3.11-slim, or a
    debootstrapped Debian bookworm with python3-venv: ``make serving-base``). The libraries go into a venv, which
    also sidesteps Debian's "externally managed" system Python. A ``wheels/`` folder added to the
    build context makes the install offline (``--no-index``) where no package index is reachable.
    """
    return f"""\
# Prediction server for model {spec_name} {version} (model-in-image).
# Build from the bundle folder:  buildah bud -t IMAGE .   or   docker build -t IMAGE .
ARG BASE_IMAGE={DEFAULT_BASE_IMAGE}
FROM ${{BASE_IMAGE}}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/venv/bin:$PATH
WORKDIR /srv/model
COPY . /srv/model
RUN python3 -m venv /opt/venv \\
 && if [ -d /srv/model/wheels ]; then \\
      pip install --no-cache-dir --no-index --find-links /srv/model/wheels -r requirements.txt; \\
    else \\
      pip install --no-cache-dir -r requirements.txt; \\
    fi \\
 && rm -rf /srv/model/wheels \\
 && (useradd --system --uid 10001 --no-create-home model || true)
# A numeric uid works even where the base image has no useradd.
USER 10001
EXPOSE {PORT}
# 0.0.0.0: inside a container loopback is unreachable from outside (python -m server defaults to 127.0.0.1).
CMD ["python", "-m", "server", "--bundle", "/srv/model", "--host", "0.0.0.0", "--port", "{PORT}"]
"""


def _features(preprocessing: dict, spec: TrainingSpec) -> dict[str, list[str]]:
    found = {kind: [f["name"] for f in preprocessing.get(kind, [])] for kind in ("numeric", "categorical")}
    declared = {"numeric": list(spec.features.numeric), "categorical": list(spec.features.categorical)} \
        if spec.features else {}
    if found != declared:
        raise ValueError(f"the checkpoint's features {found} differ from spec {spec.name!r}'s {declared}")
    if preprocessing.get("target", {}).get("name") != spec.target:
        raise ValueError(f"the checkpoint predicts {preprocessing.get('target', {}).get('name')!r}, "
                         f"spec {spec.name!r} declares target {spec.target!r}")
    return found


def _write_json(path: Path, value: object) -> None:
    path.write_text(json.dumps(value, indent=1, allow_nan=False) + "\n", encoding="utf-8")


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
