"""``dagster/code_references`` of a spec's assets: the spec YAML they are built from (where it is a
file) and the Python function of each asset's body, so the UI's "open in editor" leads to both."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

CODE_REFERENCES = "dagster/code_references"


def _add_spec_file(assets_def: dg.AssetsDefinition, spec_file: Path) -> dg.AssetsDefinition:
    reference = dg.LocalFileCodeReference(file_path=str(spec_file), label="training spec")

    def add(spec: dg.AssetSpec) -> dg.AssetSpec:
        existing = spec.metadata.get(CODE_REFERENCES)
        others = list(existing.code_references) if isinstance(existing, dg.CodeReferencesMetadataValue) else []
        return spec.replace_attributes(metadata={
            **spec.metadata, CODE_REFERENCES: dg.CodeReferencesMetadataValue(code_references=[reference, *others])})

    return assets_def.map_asset_specs(add)


def with_code_references(defs: dg.Definitions, spec_file: Path | None = None) -> dg.Definitions:
    """``defs`` (one spec's assets, checks, jobs, schedules and sensors) with code references on
    every asset. Jobs select their assets by key, so the replaced definitions keep their jobs."""
    assets = dg.with_source_code_references(list(defs.assets or []))
    if spec_file is not None:
        assets = [_add_spec_file(a, spec_file) if isinstance(a, dg.AssetsDefinition) else a for a in assets]
    return dg.Definitions(assets=assets, asset_checks=defs.asset_checks, jobs=defs.jobs,
                          schedules=defs.schedules, sensors=defs.sensors)
