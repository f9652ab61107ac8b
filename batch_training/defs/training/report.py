"""``<spec>/evaluation_report`` and its blocking ``gate`` check."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from batch_training.defs.boundary import StepRetries, failure_boundary
from batch_training.defs.partitions import as_of_partitions
from batch_training.defs.resources import ArtifactStoreResource, RegistryResource
from batch_training.errors import InfrastructureError
from batch_training.evaluation import png_data_uri, render_markdown, write_report
from batch_training.features.dataset import read_training_data
from batch_training.operations import tags
from batch_training.spec import TrainingSpec
from batch_training.storage import AsOfArtifacts, atomic_directory


class EvaluationRunConfig(dg.Config):
    gate_override_reason: str = Field(
        default="",
        description="Ship this candidate even if the gate fails. Only with a written reason; it is recorded "
                    "in the report, the check and the run's tags.",
    )


def build_report_asset(spec: TrainingSpec, retries: StepRetries | None = None) -> dg.AssetsDefinition:
    key = dg.AssetKey([spec.name, "evaluation_report"])

    @dg.asset(
        key=key, partitions_def=as_of_partitions(spec), group_name=spec.name, kinds={"markdown"},
        deps=[dg.AssetKey([spec.name, "trained_model"]), dg.AssetKey([spec.name, "training_dataset"])],
        check_specs=[dg.AssetCheckSpec(
            "gate", asset=key, blocking=True,
            description="Regression: the candidate beats the naive baseline by the spec's margin. Classification: "
                        "it labels the holdout rows with more than one class, its log loss beats the class-prior "
                        "baseline's by the spec's margin and its AUC is at least 0.5 + min_auc_margin. Both: it is "
                        "not worse than the champion beyond its tolerance, and no large slice regresses. Blocks "
                        "everything downstream.")],
        description="Metrics of the candidate on the holdout days beside the champion and simple baselines, "
                    "per slice, with learning curves and error pictures; report.md, report.json and PNGs.",
    )
    def evaluation_report(context: dg.AssetExecutionContext, config: EvaluationRunConfig,
                          artifacts: ArtifactStoreResource, registry: RegistryResource):
        store = artifacts.partitions()
        pk = context.partition_key
        from batch_training.candidate.evaluate import evaluate  # torch: loaded by the step, not the definitions

        with failure_boundary(context, f"evaluating {spec.name} as of {pk}", retries):
            artifacts = AsOfArtifacts.of(store, spec.name, pk)
            data = read_training_data(artifacts.dataset)
            candidate = _predictor(artifacts.checkpoint)
            override = config.gate_override_reason.strip() or None
            champion, champion_info = _champion(spec, registry, context)
            report, pngs, decision = evaluate(spec, data, candidate, champion=champion, champion_info=champion_info,
                                              override_reason=override)
            with atomic_directory(artifacts.report) as tmp:
                write_report(tmp, report, pngs)
        if decision.overridden:
            context.instance.add_run_tags(context.run.run_id, {tags.GATE_OVERRIDE: "true"})
            context.log.warning(f"gate overridden: {decision.override_reason}")
        inline = render_markdown(report, {name: png_data_uri(png) for name, png in pngs.items()})
        m = report["metric"]
        naive = report["baselines"]["naive"]
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={
                "report": dg.MetadataValue.md(inline),
                "path": dg.MetadataValue.path(str(artifacts.report_md)),
                f"candidate_{m}": float(report["candidate"][m]),
                **({f"naive_{m}": float(naive[m])} if naive else {}),
                f"constant_{m}": float(report["baselines"]["constant"][m]),
                "champion": report["champion"]["version"] if report["champion"] else "none",
                "gate_passed": decision.passed,
                "rows_evaluated": int(report["candidate"]["n"]),
                **_classifier_numbers(report),
            },
        )
        yield dg.AssetCheckResult(
            asset_key=key, check_name="gate", passed=decision.passed,
            severity=dg.AssetCheckSeverity.ERROR,
            description="; ".join(decision.reasons) or "all gate rules passed",
            metadata={"decision": dg.MetadataValue.json(decision.to_dict()),
                      "overridden": decision.overridden, "override_reason": decision.override_reason or "",
                      "metric": m, "candidate": float(report["candidate"][m])},
        )

    return evaluation_report


_LABEL_METRICS = ("auc", "accuracy", "precision", "recall", "f1", "macro_f1")


def _classifier_numbers(report: dict) -> dict[str, float]:
    """A classifier's headline numbers as plain floats (Dagster plots them across partitions): the
    candidate's AUC and label metrics and, binary, its decision threshold."""
    if report["task"] == "regression":
        return {}
    cand = report["candidate"]
    out = {f"candidate_{k}": float(cand[k]) for k in _LABEL_METRICS if cand.get(k) is not None}
    if report.get("decision_threshold"):
        out["decision_threshold"] = float(report["decision_threshold"]["candidate_threshold"])
    return out


def _champion(spec: TrainingSpec, registry: RegistryResource, context) -> tuple:
    """The production model of this spec from the registry, if any."""
    with registry.open() as reg:
        current = reg.production(spec.name)
    if current is None:
        context.log.info(f"no production model of {spec.name} yet: the candidate has no champion")
        return None, None
    path = Path(current.artifact_uri)
    if not path.exists():
        raise InfrastructureError(f"the champion {current.version} is registered but its checkpoint {path} "
                                  "is missing from the artifact store")
    context.log.info(f"champion: {spec.name} {current.version}")
    return _predictor(path), {"version": current.version, "as_of": str(current.as_of)}


def _predictor(path: Path):
    """The predictor of a checkpoint (torch loads here, when a step needs it, not with the definitions)."""
    from batch_training.candidate import Predictor
    from batch_training.training import load_checkpoint

    return Predictor(load_checkpoint(path))
