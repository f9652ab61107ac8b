"""Build an image from a bundle folder (it holds a Dockerfile) and start a server from it.

- ``buildah``: no daemon; ``--storage-driver vfs --isolation chroot`` works as root on machines
  without overlay or user namespaces. ``buildah run`` shares the host's loopback, so a server
  started in the image is reachable on 127.0.0.1.
- ``docker``: where a Docker engine runs.
- ``none``: no image; the smoke test starts the server from the bundle with this Python.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from batch_training.errors import TransientError


class ImageBuildError(TransientError, RuntimeError):
    """The builder failed (a registry, network or daemon hiccup, most often): retried, then relaunched."""


@dataclass(frozen=True)
class ImageInfo:
    ref: str
    digest: str
    size_bytes: int


@dataclass
class RunningServer:
    process: subprocess.Popen
    cleanup: list[list[str]]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        for command in self.cleanup:
            subprocess.run(command, capture_output=True, timeout=120)


def _run(command: list[str], timeout: float = 1800) -> str:
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        raise ImageBuildError(f"{' '.join(command[:3])} ... failed ({proc.returncode}):\n" + "\n".join(tail))
    return proc.stdout


def build_context(bundle_dir: Path, workdir: Path) -> Path:
    """A copy of the bundle plus ``wheels/``: the pinned requirements downloaded by this machine's
    pip (its index, proxy and certificates), so the image installs offline. A build step inside the
    image may not reach the index, or may not trust this network's certificates."""
    context = workdir / "context"
    shutil.copytree(bundle_dir, context)
    _run([sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--dest", str(context / "wheels"),
          "--requirement", str(context / "requirements.txt")], timeout=1800)
    return context


class ImageBuilder(ABC):
    kind = "?"

    @abstractmethod
    def build(self, bundle_dir: Path, tag: str, base_image: str | None) -> ImageInfo | None: ...

    @abstractmethod
    def start(self, bundle_dir: Path, image: ImageInfo | None, port: int, log_path: Path) -> RunningServer: ...


class NoImageBuilder(ImageBuilder):
    """Bundle only: the server runs from the bundle folder with this interpreter."""

    kind = "none"

    def build(self, bundle_dir, tag, base_image):
        return None

    def start(self, bundle_dir, image, port, log_path):
        argv = [sys.executable, "-m", "server", "--bundle", str(bundle_dir), "--host", "127.0.0.1", "--port", str(port)]
        log = open(log_path, "wb")
        return RunningServer(subprocess.Popen(argv, cwd=bundle_dir, stdout=log, stderr=subprocess.STDOUT), [])


class BuildahBuilder(ImageBuilder):
    kind = "buildah"

    def __init__(self, storage_driver: str = "vfs", isolation: str = "chroot"):
        self.flags = ["--storage-driver", storage_driver]
        self.isolation = isolation

    def _buildah(self, *args: str) -> list[str]:
        return ["buildah", *self.flags, *args]

    def build(self, bundle_dir, tag, base_image):
        args = ["bud", "--isolation", self.isolation, "--layers=false", "-t", tag]
        if base_image:
            args += ["--build-arg", f"BASE_IMAGE={base_image}"]
        with tempfile.TemporaryDirectory() as tmp:
            _run(self._buildah(*args, str(build_context(bundle_dir, Path(tmp)))))
        info = json.loads(_run(self._buildah("inspect", "--type", "image", tag)))
        layers = json.loads(info.get("Manifest") or "{}").get("layers", [])
        return ImageInfo(tag, info.get("FromImageDigest") or "", sum(int(layer.get("size", 0)) for layer in layers))

    def start(self, bundle_dir, image, port, log_path):
        if image is None:
            raise ImageBuildError("no image to start")
        name = f"bt-smoke-{uuid.uuid4().hex[:8]}"
        _run(self._buildah("from", "--name", name, image.ref), timeout=600)
        argv = self._buildah("run", "--isolation", self.isolation, name, "--",
                             "/opt/venv/bin/python", "-m", "server", "--bundle", "/srv/model",
                             "--host", "127.0.0.1", "--port", str(port))
        log = open(log_path, "wb")
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        return RunningServer(process, [self._buildah("rm", name)])


class DockerBuilder(ImageBuilder):
    kind = "docker"

    def build(self, bundle_dir, tag, base_image):
        args = ["docker", "build", "-t", tag]
        if base_image:
            args += ["--build-arg", f"BASE_IMAGE={base_image}"]
        with tempfile.TemporaryDirectory() as tmp:
            _run(args + [str(build_context(bundle_dir, Path(tmp)))])
        info = json.loads(_run(["docker", "image", "inspect", tag]))[0]
        return ImageInfo(tag, info.get("Id", ""), int(info.get("Size", 0)))

    def start(self, bundle_dir, image, port, log_path):
        name = f"bt-smoke-{uuid.uuid4().hex[:8]}"
        argv = ["docker", "run", "--rm", "--name", name, "-p", f"127.0.0.1:{port}:8080", image.ref]
        log = open(log_path, "wb")
        return RunningServer(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT), [["docker", "rm", "-f", name]])


def make_builder(kind: str) -> ImageBuilder:
    """``auto``: buildah where installed, else docker where a daemon answers, else none."""
    if kind == "auto":
        if shutil.which("buildah"):
            kind = "buildah"
        elif shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
            kind = "docker"
        else:
            kind = "none"
    builders = {"buildah": BuildahBuilder, "docker": DockerBuilder, "none": NoImageBuilder}
    if kind not in builders:
        raise ValueError(f"unknown image builder {kind!r} (buildah, docker, none or auto)")
    return builders[kind]()
