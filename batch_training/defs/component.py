"""``TrainingPipeline``: one training pipeline as a Dagster Component, from a spec YAML beside its
``defs.yaml``.

A new pipeline is scaffolded into the defs folder (``batch_training/pipelines``, ``[tool.dg]`` in
pyproject.toml) with::

    dg scaffold defs batch_training.TrainingPipeline my_model [--from-spec other.yaml]

which writes ``my_model/defs.yaml`` (``type: batch_training.TrainingPipeline``, ``spec: my_model.yaml``)
and ``my_model/my_model.yaml``: a copy of a packaged spec (or of ``--from-spec``) renamed ``my_model``,
to be edited (source table, column contract, features, target, ...). It loads with the specs of
``batch_training/specs`` in the one code location (``defs/project.py`` says how they combine).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import dagster as dg
from pydantic import BaseModel, Field

from batch_training.defs import build_pipeline_defs
from batch_training.settings import get_settings
from batch_training.spec import SpecError, TrainingSpec, builtin_spec_dir, load_spec
from batch_training.spec.identifiers import check_identifier


def _spec_path(context: dg.ResolutionContext, value: str) -> Path:
    return context.resolve_source_relative_path(context.resolve_value(value, as_type=str))


class ScaffoldParams(BaseModel):
    from_spec: str | None = Field(
        default=None, description="A spec YAML to start from (default: the first packaged spec).")


class TrainingPipelineScaffolder(dg.Scaffolder[ScaffoldParams]):
    """Writes ``defs.yaml`` and the pipeline's spec YAML, named after the new folder."""

    @classmethod
    def get_scaffold_params(cls) -> type[ScaffoldParams]:
        return ScaffoldParams

    def scaffold(self, request: dg.ScaffoldRequest[ScaffoldParams]) -> None:
        if request.scaffold_format != "yaml":
            raise SpecError("a TrainingPipeline is declared in YAML (defs.yaml + the spec): scaffold it with --format yaml")
        name = request.target_path.name
        try:
            check_identifier(name, "pipeline name")
        except ValueError as exc:
            raise SpecError(f"{request.target_path}: {exc} (the folder name becomes the spec's name)") from None
        source = Path(request.params.from_spec) if request.params.from_spec else sorted(builtin_spec_dir().glob("*.yaml"))[0]
        text, renamed = re.subn(r"(?m)^name:.*$", f"name: {name}", source.read_text(encoding="utf-8"), count=1)
        if not renamed:
            raise SpecError(f"{source}: name: no top-level `name:` line to rename")
        header = f"# Scaffolded from {source.name}: edit the source, contract, features and target of `{name}`.\n"
        (request.target_path / f"{name}.yaml").write_text(header + text, encoding="utf-8")
        dg.scaffold_component(request, {"spec": f"{name}.yaml"})


@dg.scaffold_with(TrainingPipelineScaffolder)
class TrainingPipeline(dg.Component, dg.Model, dg.Resolvable):
    """A training pipeline (ingest, cleansing, training, evaluation, serving, monitoring) built from
    one training spec YAML. Its assets, checks, jobs, schedules and sensors are the spec's own; the
    resources and the recovery sensor across all specs come from the code location's root."""

    spec: Annotated[Path, dg.Resolver(
        _spec_path, model_field_type=str,
        description="The training spec YAML, relative to this defs.yaml; its `name` is the file's name.")]

    def training_spec(self) -> TrainingSpec:
        return load_spec(self.spec)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        return build_pipeline_defs(self.training_spec(), get_settings(), spec_file=self.spec)
