"""``dagster/uri`` of what an asset stored: a file as a ``file://`` URI, a served model as its image
pinned by digest (``ref@sha256:...``) or, without an image, its bundle folder."""

from __future__ import annotations

from pathlib import Path

URI = "dagster/uri"


def file_uri(path: str | Path) -> str:
    return Path(path).resolve().as_uri()


def served_uri(bundle_path: str | Path, image_ref: str | None = None, image_digest: str | None = None) -> str:
    if image_ref and image_digest:
        return f"{image_ref}@{image_digest}"
    return file_uri(bundle_path)
