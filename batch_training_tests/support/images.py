"""The Debian-bootstrapped base image for image tests (built once per machine, then reused)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from batch_training.images.base import DEFAULT_TAG, bootstrap_base

BASE_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "batch_training" / "serving-base"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def require_base_image() -> str:
    if not (shutil.which("buildah") and shutil.which("debootstrap")) or os.geteuid() != 0:
        if _in_ci():
            pytest.fail("CI must build the real images: buildah and debootstrap (as root) are required")
        pytest.skip("buildah/debootstrap not installed or not root")
    return bootstrap_base(BASE_CACHE, DEFAULT_TAG)
