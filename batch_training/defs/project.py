"""The code location: the specs of ``batch_training/specs`` (or ``$BATCH_TRAINING_SPEC_DIR``) together
with the ``TrainingPipeline`` components of the dg defs folder ``batch_training/pipelines``.

How the two combine (one entry, ``batch_training.definitions``, for workspace.yaml, the image's gRPC
server and ``dg check defs`` / ``dg list defs`` / ``dg launch``):

- Each spec's own definitions (assets, checks, jobs, schedules, its sensors) are built once: the
  folder's specs by ``build_defs``, a component's spec by the component itself when Dagster's
  component tree builds the defs folder (so its assets carry the ``defs.yaml`` code reference and
  anything else a user puts in the folder, another kind of component, loads too).
- What spans specs is built once, here, over both: the resources and the one recovery sensor,
  which watches the jobs of every spec (``build_defs(..., component_specs=..., component_defs=...)``).
- A spec name used twice (a folder spec and a component, or two components) is an error naming both
  files: the asset keys would collide.

The folder's path comes from the installed package (not from pyproject.toml), so the same loading
works from a wheel in the code-location image, where no pyproject.toml exists.
"""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path
from types import ModuleType

import dagster as dg

from batch_training.defs import build_defs
from batch_training.defs.component import TrainingPipeline
from batch_training.settings import Settings
from batch_training.spec import SpecError, builtin_spec_dir, load_specs

DEFS_MODULE = "batch_training.pipelines"


def pipelines_tree(defs_module: ModuleType | None = None) -> dg.ComponentTree:
    """Dagster's component tree of the defs folder (default: ``batch_training.pipelines``)."""
    module = defs_module or importlib.import_module(DEFS_MODULE)
    folder = Path(next(iter(module.__path__)))
    return dg.ComponentTree.from_module(defs_module=module, project_root=folder.parent.parent)


def project_specs(settings: Settings, tree: dg.ComponentTree | None = None) -> list:
    """Every spec of the code location: the folder's, then the components' (what the CLI runs)."""
    spec_dir = Path(settings.spec_dir) if settings.spec_dir else builtin_spec_dir()
    tree = tree or pipelines_tree()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        pipelines = [c.training_spec() for c in tree.get_all_components(of_type=TrainingPipeline)]
    return load_specs(spec_dir) + pipelines


def build_project_defs(settings: Settings, tree: dg.ComponentTree | None = None,
                       resources: dict | None = None) -> dg.Definitions:
    tree = tree or pipelines_tree()
    spec_dir = Path(settings.spec_dir) if settings.spec_dir else builtin_spec_dir()
    specs = load_specs(spec_dir)
    files = {spec.name: spec_dir / f"{spec.name}.yaml" for spec in specs}
    pipelines = [(c.training_spec(), c.spec) for c in tree.get_all_components(of_type=TrainingPipeline)]
    for spec, path in pipelines:
        if spec.name in files:
            raise SpecError(f"{path}: name: spec name {spec.name!r} is also the name of {files[spec.name]}")
        files[spec.name] = path
    with warnings.catch_warnings():  # the tree's own loader of python modules in the folder is a preview API
        warnings.simplefilter("ignore", dg.PreviewWarning)
        components = tree.build_defs()
    return build_defs(specs, settings, resources, spec_files=files, component_specs=[spec for spec, _ in pipelines],
                      component_defs=components)
