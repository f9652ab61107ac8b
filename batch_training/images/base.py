"""A minimal Debian + Python base image, bootstrapped from Debian's packages, for machines that
cannot pull a base image from a registry (``make serving-base``)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from batch_training.images.builders import ImageBuildError, _run

DEFAULT_TAG = "localhost/batch-training/serving-base:bookworm"


def apt_mirror() -> str | None:
    """The Debian mirror this machine's apt uses (so debootstrap goes where apt already goes)."""
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in sources:
        text = path.read_text(errors="ignore") if path.is_file() else ""
        for match in re.finditer(r"(?m)^(?:deb\s+(?:\[[^\]]*\]\s+)?|URIs:\s*)(\S+/debian)/?\s*$", text):
            return match.group(1)
        for match in re.finditer(r"(?m)^deb\s+(?:\[[^\]]*\]\s+)?(\S+/debian)\s+bookworm\s", text):
            return match.group(1)
    return None


def image_exists(tag: str, storage_driver: str = "vfs") -> bool:
    proc = subprocess.run(["buildah", "--storage-driver", storage_driver, "inspect", "--type", "image", tag],
                          capture_output=True)
    return proc.returncode == 0


def bootstrap_base(workdir: Path, tag: str = DEFAULT_TAG, suite: str = "bookworm", storage_driver: str = "vfs") -> str:
    """debootstrap a minbase root filesystem with python3 and venv, and commit it as ``tag``."""
    if image_exists(tag, storage_driver):
        return tag
    rootfs = workdir / f"rootfs-{suite}"
    if not (rootfs / "usr" / "bin" / "python3").exists():
        workdir.mkdir(parents=True, exist_ok=True)
        argv = ["debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates", suite, str(rootfs)]
        mirror = apt_mirror()
        _run(argv + ([mirror] if mirror else []), timeout=1800)
    flags = ["--storage-driver", storage_driver]
    container = _run(["buildah", *flags, "from", "scratch"]).strip()
    try:
        _run(["buildah", *flags, "copy", container, str(rootfs), "/"])
        _run(["buildah", *flags, "config", "--env", "LANG=C.UTF-8", "--cmd", "python3", container])
        _run(["buildah", *flags, "commit", container, tag])
    finally:
        subprocess.run(["buildah", *flags, "rm", container], capture_output=True)
    if not image_exists(tag, storage_driver):
        raise ImageBuildError(f"base image {tag} was not created")
    return tag


if __name__ == "__main__":
    import sys

    print(bootstrap_base(Path(sys.argv[1] if len(sys.argv) > 1 else ".batch_training/serving-base")))
