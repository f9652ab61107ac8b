"""``<spec>/production_model``: the registry record of the candidate, promoted to production in one
transaction when its gate and smoke test passed."""

import datetime as dt
from importlib.metadata import version as package_version

import dagster as dg

from batch_training.defs.boundary import StepRetries, failure_boundary
from batch_training.defs.partitions import as_of_partitions
from batch_training.defs.resources import ArtifactStoreResource, RegistryResource
from batch_training.defs.uris import URI, served_uri
from batch_training.errors import GateError
from batch_training.evaluation.record import EvaluationReport
from batch_training.monitoring import inputs_identity
from batch_training.monitoring.retrain import IDENTITY_KEY
from batch_training.serving.record import ImageRecord
from batch_training.spec import TrainingSpec
from batch_training.storage import AsOfArtifacts


def build_promotion_asset(spec: TrainingSpec, retries: StepRetries | None = None) -> dg.AssetsDefinition:
    key = dg.AssetKey([spec.name, "production_model"])

    @dg.asset(
        key=key, partitions_def=as_of_partitions(spec), group_name=spec.name, kinds={"sqlite", "postgres"},
        deps=[dg.AssetKey([spec.name, "server_image"])],
        description="The candidate registered with its lineage (spec, as-of day, data window and version, code "
                    "version, metrics, bundle, image) and promoted to production: at most one per spec.",
    )
    def production_model(context: dg.AssetExecutionContext, artifacts: ArtifactStoreResource,
                         registry: RegistryResource) -> dg.MaterializeResult:
        store = artifacts.partitions()
        pk = context.partition_key
        with failure_boundary(context, f"registering and promoting {spec.name} as of {pk}", retries):
            artifacts = AsOfArtifacts.of(store, spec.name, pk)
            record, report = ImageRecord.read(artifacts.image_record), EvaluationReport.read(artifacts.report)
            with registry.open() as reg:
                return _register_and_promote(context, spec, pk, record, report, reg)

    return production_model


def _register_and_promote(context, spec: TrainingSpec, pk: str, record: ImageRecord, report: EvaluationReport,
                          reg) -> dg.MaterializeResult:
    image = record.image
    version = record.version
    code = package_version("batch_training")
    entry = reg.register(
        spec=spec.name, version=version, as_of=dt.date.fromisoformat(pk),
        data_window={"train_days": report.train_days, "holdout_days": report.holdout_days,
                     # every table's days read (the main table's and each joined one's), by asset key
                     "tables": {f"{spec.name}/{t}": d for t, d in report.tables.items()},
                     # what a later training compares with to skip a repeat (batch_training.monitoring.retrain)
                     IDENTITY_KEY: inputs_identity(spec, report.data_version, code)},
        data_version=report.data_version, code_version=code,
        metrics=report.candidate, artifact_uri=record.checkpoint, bundle_uri=record.bundle_path,
        bundle_hash=record.content_hash, image_ref=image.ref if image else None,
        image_digest=image.digest if image else None,
    )
    if not (report.gate.passed and record.smoke_passed):
        reg.reject(spec.name, version, "gate or smoke test failed")
        raise GateError(f"{version} not promoted: gate passed={report.gate.passed}, "
                        f"smoke test passed={record.smoke_passed}")
    previous = reg.production(spec.name)
    reason = (f"gate passed ({report.metric} {report.score:.4g}"
              + (f", overridden: {report.gate.override_reason}" if report.gate.overridden else "")
              + f"), smoke test passed (parity {record.smoke_test['max_abs_diff']:.2g})")
    if previous is None or previous.version != version:
        # Compare-and-set: the champion the gate compared against must still be in production.
        evaluated_against = report.champion_version
        entry = reg.promote(spec.name, version, reason, expected_production=evaluated_against)
    context.log.info(f"{spec.name} {version} is in production (was {previous.version if previous else 'none'})")
    return dg.MaterializeResult(metadata={
        "version": version, "status": entry.status, "previous": previous.version if previous else "none",
        "reason": reason, "image_ref": image.ref if image else "none", "bundle": dg.MetadataValue.path(record.bundle_path),
        URI: served_uri(record.bundle_path, image.ref if image else None, image.digest if image else None),
    })
