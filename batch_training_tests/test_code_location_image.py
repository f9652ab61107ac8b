"""The code-location image (top-level Dockerfile), built with buildah on the Debian-bootstrapped base
from pinned wheels, loads the Definitions inside the container as a non-root user."""

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from batch_training_tests.support.images import require_base_image

pytestmark = pytest.mark.image

ROOT = Path(__file__).resolve().parents[1]
BUILDAH = ["buildah", "--storage-driver", "vfs"]


def _context(tmp: Path) -> Path:
    context = tmp / "context"
    context.mkdir()
    for name in ("pyproject.toml", "README.md", "dagster.yaml", "workspace.yaml", "Dockerfile"):
        shutil.copy(ROOT / name, context / name)
    shutil.copytree(ROOT / "batch_training", context / "batch_training",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # the project's wheel and every pinned dependency, resolved by this machine's pip (its index and certificates)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(context / "wheels"), str(context)],
                   check=True, timeout=1800)
    return context


def test_code_location_image_builds_and_loads_the_definitions(tmp_path):
    base = require_base_image()
    tag = f"localhost/batch-training/code-location:test-{uuid.uuid4().hex[:6]}"
    context = _context(tmp_path)
    subprocess.run([*BUILDAH, "bud", "--isolation", "chroot", "--layers=false", "--build-arg", f"BASE_IMAGE={base}",
                    "-t", tag, str(context)], check=True, capture_output=True, timeout=3000)
    container = None
    try:
        config = json.loads(subprocess.run([*BUILDAH, "inspect", "--type", "image", tag], check=True,
                                           capture_output=True, text=True).stdout)["OCIv1"]["config"]
        assert config["User"] == "10001"
        assert config["Cmd"][:3] == ["dagster", "api", "grpc"]
        assert not any("PASSWORD" in e or "_URL=" in e for e in config.get("Env", []))  # no secrets baked in
        container = subprocess.run([*BUILDAH, "from", tag], check=True, capture_output=True, text=True).stdout.strip()
        env = ["--env", "BATCH_TRAINING_WAREHOUSE_URL=postgresql://u:p@127.0.0.1:1/dwh",
               "--env", "BATCH_TRAINING_REGISTRY_URL=postgresql://u:p@127.0.0.1:1/registry"]
        load = ("from batch_training.definitions import defs; d = defs(); "
                "print(sorted(k.to_user_string() for k in d.resolve_asset_graph().get_all_asset_keys()))")
        check = subprocess.run([*BUILDAH, "run", "--isolation", "chroot", *env, container, "--", "python", "-c", load],
                               capture_output=True, text=True, timeout=600)
        assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-3000:]
        assert "'flights_delay/production_model'" in check.stdout and "'flights_delay/raw'" in check.stdout
        who = subprocess.run([*BUILDAH, "run", "--isolation", "chroot", container, "--", "id", "-u"],
                             capture_output=True, text=True, timeout=120)
        assert who.stdout.strip() == "10001"
    finally:
        if container:
            subprocess.run([*BUILDAH, "rm", container], capture_output=True)
        subprocess.run([*BUILDAH, "rmi", tag], capture_output=True)
