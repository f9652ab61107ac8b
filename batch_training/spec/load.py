"""Loading specs from YAML with errors that name the file, the field and the reason."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from batch_training.errors import ConfigurationError
from batch_training.spec.model import FieldError, TrainingSpec


class SpecError(ConfigurationError, ValueError):
    """A spec file that cannot be used; the message names the file, the field and why."""


def _field_path(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "<top level>"


def _location(err: dict) -> tuple:
    """The error's path, extended by the field a cross-field rule named (see ``FieldError``)."""
    cause = (err.get("ctx") or {}).get("error")
    return tuple(err["loc"]) + (cause.loc if isinstance(cause, FieldError) else ())


def parse_spec(data: object, source: str = "<memory>") -> TrainingSpec:
    if not isinstance(data, dict):
        raise SpecError(f"{source}: <top level>: expected a mapping, got {type(data).__name__}")
    try:
        return TrainingSpec.model_validate(data)
    except ValidationError as exc:
        lines = [f"{source}: {_field_path(_location(err))}: {err['msg'].removeprefix('Value error, ')}"
                 for err in exc.errors()]
        raise SpecError("\n".join(lines)) from None


def load_spec(path: str | Path) -> TrainingSpec:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"{path}: cannot be read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: <yaml>: not valid YAML: {exc}") from None
    spec = parse_spec(data, str(path))
    if spec.name != path.stem:
        raise SpecError(f"{path}: name: spec name {spec.name!r} differs from the file name {path.stem!r}")
    return spec


def builtin_spec_dir() -> Path:
    return Path(str(resources.files("batch_training") / "specs"))


def load_specs(directory: str | Path | None = None) -> list[TrainingSpec]:
    """All ``*.yaml`` specs in a folder (default: the packaged ``batch_training/specs``), sorted by name."""
    folder = Path(directory) if directory else builtin_spec_dir()
    specs = [load_spec(p) for p in sorted(folder.glob("*.yaml"))]
    if not specs:
        raise SpecError(f"{folder}: no *.yaml spec found")
    return specs
