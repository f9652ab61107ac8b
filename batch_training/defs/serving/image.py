"""``<spec>/server_image``: the candidate as a prediction-server bundle and image, smoke-tested."""

import tempfile
from pathlib import Path

import dagster as dg

from batch_training.defs.boundary import StepRetries, failure_boundary
from batch_training.defs.partitions import as_of_partitions
from batch_training.defs.resources import ArtifactStoreResource, ImageBuilderResource
from batch_training.defs.uris import URI, served_uri
from batch_training.errors import GateError
from batch_training.evaluation.record import EvaluationReport
from batch_training.features.columns import request_rows
from batch_training.features.dataset import read_training_data
from batch_training.images.smoke import SmokeResult, smoke_test, wait_ready
from batch_training.ports import free_port
from batch_training.serving.record import BuiltImage, ImageRecord
from batch_training.spec import TrainingSpec
from batch_training.storage import AsOfArtifacts, sha256_file

READY_TIMEOUT_S = 180


def model_version(as_of: str, checkpoint_sha: str) -> str:
    return f"{as_of}-{checkpoint_sha[:8]}"




def build_image_asset(spec: TrainingSpec, retries: StepRetries | None = None) -> dg.AssetsDefinition:
    key = dg.AssetKey([spec.name, "server_image"])

    @dg.asset(
        key=key, partitions_def=as_of_partitions(spec), group_name=spec.name, kinds={"onnx", "oci"},
        deps=[dg.AssetKey([spec.name, "evaluation_report"])],
        check_specs=[dg.AssetCheckSpec(
            "smoke_test", asset=key, blocking=True,
            description="The server starts from the built image (or the bundle), becomes ready, matches the offline "
                        "PyTorch predictions on the evaluation rows within 1e-4, refuses a malformed request with a 4xx; "
                        "latency p50/p99 recorded.")],
        description="A versioned, content-hashed bundle (model.onnx, preprocessing, metadata, server code, pinned "
                    "requirements, Dockerfile) and an OCI image built from it (buildah, docker, or none).",
    )
    def server_image(context: dg.AssetExecutionContext, artifacts: ArtifactStoreResource, images: ImageBuilderResource):
        pk = context.partition_key
        with failure_boundary(context, f"building the {spec.name} server as of {pk}", retries):
            version, bundle, builder, image, smoke = _build_and_smoke(context, spec, artifacts.partitions(), images)
        yield dg.MaterializeResult(asset_key=key, metadata={
            "version": version, "bundle": dg.MetadataValue.path(str(bundle.path)), "content_hash": bundle.content_hash,
            "builder": builder.kind,
            "image_ref": image.ref if image else "none (bundle only)",
            "image_digest": image.digest if image else "",
            "image_size_mb": round(image.size_bytes / 2**20, 1) if image else 0.0,
            URI: served_uri(bundle.path, image.ref if image else None, image.digest if image else None),
        })
        yield dg.AssetCheckResult(
            asset_key=key, check_name="smoke_test", passed=smoke.passed, severity=dg.AssetCheckSeverity.ERROR,
            description="; ".join(smoke.reasons) or f"parity within 1e-4 on {smoke.rows_compared} rows",
            metadata={"rows_compared": smoke.rows_compared, "max_abs_diff": smoke.max_abs_diff if smoke.max_abs_diff is not None else -1.0,
                      "malformed_status": smoke.malformed_status or 0,
                      "single_p50_ms": smoke.single_ms.get("p50", -1.0), "single_p99_ms": smoke.single_ms.get("p99", -1.0),
                      "batch_1000_p50_ms": smoke.batch_1000_ms.get("p50", -1.0),
                      "batch_1000_p99_ms": smoke.batch_1000_ms.get("p99", -1.0)},
        )

    return server_image


def _build_and_smoke(context, spec: TrainingSpec, store, images: ImageBuilderResource):
    # torch and ONNX load with the step that needs them, not with the definitions every process builds
    from batch_training.candidate import Predictor
    from batch_training.serving import build_bundle
    from batch_training.training import load_checkpoint

    pk = context.partition_key
    artifacts = AsOfArtifacts.of(store, spec.name, pk)
    report = EvaluationReport.read(artifacts.report)
    if not report.gate.passed:
        raise GateError(f"the evaluation gate of {pk} did not pass; a rejected candidate is never built")
    ckpt_path = artifacts.checkpoint
    version = model_version(pk, sha256_file(ckpt_path))
    metrics = dict(report.candidate)
    bundle = build_bundle(ckpt_path, spec, version, artifacts.bundle, metrics=metrics)
    builder = images.builder()
    tag = f"localhost/batch-training/{spec.name}:{version}"
    context.log.info(f"bundle {bundle.content_hash[:12]} built; image builder: {builder.kind}")
    image = builder.build(bundle.path, tag, images.base_image)

    data = read_training_data(artifacts.dataset)
    checkpoint = load_checkpoint(ckpt_path)
    predictor = Predictor(checkpoint)
    expected = predictor(data.holdout)
    rows = request_rows(spec, data.holdout)
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "server.log"
        server = builder.start(bundle.path, image, port, log_path)
        try:
            base = f"http://127.0.0.1:{port}"
            if wait_ready(base, READY_TIMEOUT_S, is_alive=lambda: server.process.poll() is None):
                smoke = smoke_test(base, rows, expected, spec.task, predictor.preprocessor.target.classes)
            else:
                tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
                smoke = SmokeResult(passed=False, reasons=[f"server not ready within {READY_TIMEOUT_S} s: {tail}"])
        finally:
            server.stop()
    built = None if image is None else BuiltImage(image.ref, image.digest, image.size_bytes)
    ImageRecord(version, bundle.to_dict(), builder.kind, built, smoke.to_dict(), str(ckpt_path), metrics,
                checkpoint.lineage).write(artifacts.image_record)
    return version, bundle, builder, image, smoke
