"""OCI images of prediction-server bundles: buildah (daemonless), docker, or none (bundle only).
No Dagster here."""

from batch_training.images.builders import (
    BuildahBuilder,
    DockerBuilder,
    ImageBuilder,
    ImageBuildError,
    ImageInfo,
    NoImageBuilder,
    make_builder,
)

__all__ = ["BuildahBuilder", "DockerBuilder", "ImageBuildError", "ImageBuilder", "ImageInfo", "NoImageBuilder", "make_builder"]
