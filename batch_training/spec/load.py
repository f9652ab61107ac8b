"""Loading specs from YAML with errors that name the file, the field and the reason."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from batch_training.errors import ConfigurationError
from batch_training.spec.pipeline import TrainingSpec
from batch_training.spec.tables import FieldError


class SpecError(ConfigurationError, ValueError):
    """A spec file that cannot be used; the message names the file, the field and why."""


def _field_path(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "<top level>"


def _location(err: dict) -> tuple:
    """The error's path, extended by the field a cross-field rule named (see ``FieldError``)."""
    cause = (err.get("ctx") or {}).get("error")
    return tuple(err["loc"]) + (cause.loc if isinstance(cause, FieldError) else ())


def _hint(err: dict) -> str:
    """YAML reads unquoted yes/no/on/off/true/false as booleans and 12 or 1.5 as numbers: where the
    spec wants text, say so."""
    if err.get("type") != "string_type":
        return ""
    value = err.get("input")
    if isinstance(value, bool):
        return (f" (YAML read an unquoted yes/no/on/off/true/false as the boolean {value}; "
                "quote it, e.g. 'YES', to keep it text)")
    if isinstance(value, (int, float)):
        return f" (YAML read {value!r} as a number; quote it, e.g. '{value}', to keep it text)"
    return ""


def parse_spec(data: object, source: str = "<memory>") -> TrainingSpec:
    if not isinstance(data, dict):
        raise SpecError(f"{source}: <top level>: expected a mapping, got {type(data).__name__}")
    try:
        return TrainingSpec.model_validate(data)
    except ValidationError as exc:
        lines = [f"{source}: {_field_path(_location(err))}: {err['msg'].removeprefix('Value error, ')}{_hint(err)}"
                 for err in exc.errors()]
        raise SpecError("\n".join(lines)) from None
    except RecursionError:
        raise SpecError(f"{source}: <top level>: nested too deeply to be a spec") from None


def load_spec(path: str | Path) -> TrainingSpec:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"{path}: cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: <file>: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                        f"{exc.start}); save the spec as UTF-8") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: <yaml>: not valid YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise SpecError(f"{path}: <yaml>: nested too deeply to be a spec") from None
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
